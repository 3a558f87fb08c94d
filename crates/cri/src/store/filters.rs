//! The filters of ListPodSandbox and ListContainers, with containerd's
//! semantics: every given criterion must match; an id may be a unique
//! prefix (resolved by the caller's index; an unresolvable one matches
//! only itself); labels must all be present with equal values.

use std::collections::HashMap;

use crated_api::cri::{Container, ContainerFilter, PodSandbox, PodSandboxFilter};

/// Whether every selector label is on the object with the same value.
pub fn labels_match(selector: &HashMap<String, String>, labels: &HashMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The sandboxes that pass `filter`; `resolve` turns an id prefix into a
/// full id where it can.
pub fn filter_sandboxes(
    sandboxes: Vec<PodSandbox>,
    filter: Option<&PodSandboxFilter>,
    resolve: impl Fn(&str) -> Option<String>,
) -> Vec<PodSandbox> {
    let Some(filter) = filter else {
        return sandboxes;
    };
    let id = (!filter.id.is_empty()).then(|| resolve(&filter.id).unwrap_or(filter.id.clone()));
    sandboxes
        .into_iter()
        .filter(|s| id.as_deref().is_none_or(|id| id == s.id))
        .filter(|s| filter.state.as_ref().is_none_or(|st| st.state == s.state))
        .filter(|s| labels_match(&filter.label_selector, &s.labels))
        .collect()
}

/// The containers that pass `filter`; `resolve_container` and
/// `resolve_sandbox` turn id prefixes into full ids where they can.
pub fn filter_containers(
    containers: Vec<Container>,
    filter: Option<&ContainerFilter>,
    resolve_container: impl Fn(&str) -> Option<String>,
    resolve_sandbox: impl Fn(&str) -> Option<String>,
) -> Vec<Container> {
    let Some(filter) = filter else {
        return containers;
    };
    let id =
        (!filter.id.is_empty()).then(|| resolve_container(&filter.id).unwrap_or(filter.id.clone()));
    let sandbox = (!filter.pod_sandbox_id.is_empty())
        .then(|| resolve_sandbox(&filter.pod_sandbox_id).unwrap_or(filter.pod_sandbox_id.clone()));
    containers
        .into_iter()
        .filter(|c| id.as_deref().is_none_or(|id| id == c.id))
        .filter(|c| sandbox.as_deref().is_none_or(|sb| sb == c.pod_sandbox_id))
        .filter(|c| filter.state.as_ref().is_none_or(|st| st.state == c.state))
        .filter(|c| labels_match(&filter.label_selector, &c.labels))
        .collect()
}

#[cfg(test)]
mod tests {
    use crated_api::cri::{
        ContainerState, ContainerStateValue, PodSandboxState, PodSandboxStateValue,
    };

    use super::*;
    use crate::store::ids::IdIndex;

    fn sandbox(id: &str, ready: bool, app: &str) -> PodSandbox {
        PodSandbox {
            id: id.into(),
            state: if ready {
                PodSandboxState::SandboxReady as i32
            } else {
                PodSandboxState::SandboxNotready as i32
            },
            labels: HashMap::from([("app".to_string(), app.to_string())]),
            ..PodSandbox::default()
        }
    }

    fn container(id: &str, sandbox: &str, running: bool) -> Container {
        Container {
            id: id.into(),
            pod_sandbox_id: sandbox.into(),
            state: if running {
                ContainerState::ContainerRunning as i32
            } else {
                ContainerState::ContainerExited as i32
            },
            ..Container::default()
        }
    }

    fn ids(list: &[PodSandbox]) -> Vec<&str> {
        list.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn sandbox_filters_combine() {
        let all = vec![
            sandbox("aaa1", true, "web"),
            sandbox("bbb2", false, "web"),
            sandbox("ccc3", true, "db"),
        ];
        let index = IdIndex::default();
        for s in &all {
            index.add(&s.id);
        }
        let resolve = |p: &str| index.get(p).ok();
        assert_eq!(filter_sandboxes(all.clone(), None, resolve).len(), 3);
        let ready_web = PodSandboxFilter {
            state: Some(PodSandboxStateValue {
                state: PodSandboxState::SandboxReady as i32,
            }),
            label_selector: HashMap::from([("app".to_string(), "web".to_string())]),
            ..PodSandboxFilter::default()
        };
        assert_eq!(
            ids(&filter_sandboxes(all.clone(), Some(&ready_web), resolve)),
            ["aaa1"]
        );
        let by_prefix = PodSandboxFilter {
            id: "cc".into(),
            ..PodSandboxFilter::default()
        };
        assert_eq!(
            ids(&filter_sandboxes(all.clone(), Some(&by_prefix), resolve)),
            ["ccc3"]
        );
        let unknown = PodSandboxFilter {
            id: "zz".into(),
            ..PodSandboxFilter::default()
        };
        assert!(filter_sandboxes(all, Some(&unknown), resolve).is_empty());
    }

    #[test]
    fn container_filters_resolve_the_pod_prefix() {
        let all = vec![
            container("c1", "pod-aaa", true),
            container("c2", "pod-aaa", false),
            container("c3", "pod-bbb", true),
        ];
        let pods = IdIndex::default();
        pods.add("pod-aaa");
        pods.add("pod-bbb");
        let filter = ContainerFilter {
            pod_sandbox_id: "pod-a".into(),
            state: Some(ContainerStateValue {
                state: ContainerState::ContainerRunning as i32,
            }),
            ..ContainerFilter::default()
        };
        let got = filter_containers(all, Some(&filter), |_| None, |p| pods.get(p).ok());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, "c1");
    }
}
