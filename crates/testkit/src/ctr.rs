//! Helpers over containerd's `ctr` for the common steps of a test.

use std::time::Duration;

use crate::cmd::Background;
use crate::daemon::Daemon;
use crate::util::{sha256_digest, wait_until};

impl Daemon {
    /// Ingests `data` as `reference` in namespace `ns` with
    /// `ctr content ingest --expected-digest ... --expected-size ...`,
    /// asserts it committed, and returns its digest.
    #[track_caller]
    pub fn ingest(&self, ns: &str, reference: &str, data: &[u8]) -> String {
        let digest = sha256_digest(data);
        let size = data.len().to_string();
        self.ctr_stdin(
            &[
                "-n",
                ns,
                "content",
                "ingest",
                "--expected-digest",
                &digest,
                "--expected-size",
                &size,
                reference,
            ],
            data,
        )
        .ok();
        digest
    }

    /// The digests `ctr -n <ns> content ls -q` lists.
    #[track_caller]
    pub fn content_digests(&self, ns: &str) -> Vec<String> {
        self.ctr(&["-n", ns, "content", "ls", "-q"]).ok().lines()
    }

    /// The blob `digest` read back with `ctr -n <ns> content get`.
    #[track_caller]
    pub fn content_get(&self, ns: &str, digest: &str) -> Vec<u8> {
        self.ctr(&["-n", ns, "content", "get", digest])
            .ok()
            .stdout_bytes
    }

    /// `ctr -n <ns> content active` as (ref, size as ctr prints it) pairs.
    #[track_caller]
    pub fn active_ingests(&self, ns: &str) -> Vec<(String, String)> {
        self.ctr(&["-n", ns, "content", "active"])
            .ok()
            .lines()
            .into_iter()
            .skip(1)
            .filter_map(|line| {
                let mut cols = line.split_whitespace();
                Some((cols.next()?.to_string(), cols.next()?.to_string()))
            })
            .collect()
    }

    /// Waits until `content active` in `ns` shows `reference` with size
    /// `size` (as ctr prints it); fails the test after 10 s.
    #[track_caller]
    pub fn wait_active(&self, ns: &str, reference: &str, size: &str) {
        let ok = wait_until(Duration::from_secs(10), || {
            self.active_ingests(ns)
                .iter()
                .any(|(r, s)| r == reference && s == size)
        });
        assert!(
            ok,
            "ingest {reference} in {ns} never showed size {size}; active: {:?}",
            self.active_ingests(ns)
        );
    }

    /// The names `ctr namespaces ls -q` lists.
    #[track_caller]
    pub fn namespaces(&self) -> Vec<String> {
        self.ctr(&["namespaces", "ls", "-q"]).ok().lines()
    }

    /// Asserts the daemon serves and `digest` is still listed in `ns` with
    /// its bytes intact.
    #[track_caller]
    pub fn assert_intact(&mut self, ns: &str, digest: &str, data: &[u8]) {
        self.assert_serving();
        let listed = self.content_digests(ns);
        assert!(
            listed.iter().any(|d| d == digest),
            "{digest} is no longer listed in {ns}: {listed:?}"
        );
        assert!(
            self.content_get(ns, digest) == data,
            "{digest} in {ns} no longer reads back its bytes"
        );
    }
}

/// `ctr events` running in the background, subscribed and ready: it was
/// started and a marker change was seen on it before [`Events::start`]
/// returned, so no later event is missed.
pub struct Events {
    bg: Background,
}

/// How long an event may take to show up on `ctr events`.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

impl Events {
    /// Starts `ctr events` and waits until it receives events: it labels a
    /// scratch namespace `e2e-events-sync` until the update shows up, then
    /// removes that namespace again (its events are in the output too).
    #[track_caller]
    pub fn start(daemon: &Daemon) -> Events {
        let bg = daemon.spawn_ctr(&["events"]);
        let events = Events { bg };
        daemon
            .ctr(&["namespaces", "create", "e2e-events-sync"])
            .ok();
        let mut n = 0u32;
        let ready = wait_until(EVENT_TIMEOUT, || {
            n += 1;
            daemon
                .ctr(&["namespaces", "label", "e2e-events-sync", &format!("n={n}")])
                .ok();
            wait_until(Duration::from_millis(200), || {
                events.has("e2e-events-sync", "/namespaces/update")
            })
        });
        assert!(
            ready,
            "ctr events never showed an event\n--- stdout ---\n{}\n--- stderr ---\n{}",
            events.bg.stdout(),
            events.bg.stderr()
        );
        daemon.ctr(&["namespaces", "rm", "e2e-events-sync"]).ok();
        events.expect("e2e-events-sync", "/namespaces/delete");
        events
    }

    /// The event lines so far, split as (namespace, topic, payload).
    pub fn events(&self) -> Vec<(String, String, String)> {
        self.bg
            .stdout()
            .lines()
            .filter_map(parse_event_line)
            .collect()
    }

    /// Whether an event with this namespace and topic was seen.
    pub fn has(&self, ns: &str, topic: &str) -> bool {
        self.events().iter().any(|(n, t, _)| n == ns && t == topic)
    }

    /// Waits for an event with this namespace and topic and returns its
    /// payload (the first one); fails the test after [`EVENT_TIMEOUT`].
    #[track_caller]
    pub fn expect(&self, ns: &str, topic: &str) -> String {
        let mut found = None;
        wait_until(EVENT_TIMEOUT, || {
            found = self
                .events()
                .into_iter()
                .find(|(n, t, _)| n == ns && t == topic)
                .map(|(_, _, payload)| payload);
            found.is_some()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no {topic} event in namespace {ns} within {EVENT_TIMEOUT:?}\n--- ctr events stdout ---\n{}\n--- stderr ---\n{}",
                self.bg.stdout(),
                self.bg.stderr()
            )
        })
    }

    /// What `ctr events` wrote to stderr (warnings about events it could not
    /// decode).
    pub fn stderr(&self) -> String {
        self.bg.stderr()
    }

    /// Everything printed so far (for messages).
    pub fn stdout(&self) -> String {
        self.bg.stdout()
    }

    /// Stops `ctr events` (SIGKILL by pid).
    pub fn stop(mut self) {
        self.bg.kill();
    }
}

/// Splits a `ctr events` line: `<date> <time> <zone> <zone name> <namespace>
/// <topic> <json>`.
fn parse_event_line(line: &str) -> Option<(String, String, String)> {
    let mut rest = line.trim();
    let mut fields = Vec::new();
    for _ in 0..6 {
        let (field, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        fields.push(field);
        rest = tail.trim_start();
    }
    if fields[5].starts_with('/') {
        Some((
            fields[4].to_string(),
            fields[5].to_string(),
            rest.to_string(),
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::parse_event_line;

    #[test]
    fn parses_ctr_event_lines() {
        let line = r#"2026-11-23 15:46:44.383335751 +0000 UTC e1 /namespaces/create {"name":"e1"}"#;
        assert_eq!(
            parse_event_line(line),
            Some((
                "e1".to_string(),
                "/namespaces/create".to_string(),
                r#"{"name":"e1"}"#.to_string()
            ))
        );
        assert_eq!(parse_event_line("garbage"), None);
    }
}
