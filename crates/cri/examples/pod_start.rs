//! Pod start latency through the CRI, for `bench/cri_pods.py`: against the
//! daemon at `<socket>`, RunPodSandbox + CreateContainer + StartContainer
//! of a host-network busybox pod, `<runs>` times one after the other, then
//! `<parallel>` pods at once; every pod is removed afterwards. Prints one
//! JSON object: the sequential times and the parallel total, in ms.
//!
//! `cargo run --release -p crated-cri --example pod_start -- <socket> <image> <runs> <parallel>`

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use crated_api::cri;
use crated_client::{Client, ConnectOptions};

fn pod(name: &str) -> cri::PodSandboxConfig {
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: name.into(),
            namespace: "bench".into(),
            uid: format!("uid-{name}"),
            attempt: 0,
        }),
        linux: Some(cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Node as i32,
                    ..cri::NamespaceOption::default()
                }),
                ..cri::LinuxSandboxSecurityContext::default()
            }),
            ..cri::LinuxPodSandboxConfig::default()
        }),
        ..cri::PodSandboxConfig::default()
    }
}

/// Starts pod `name` with one `sleep` container; returns the pod id.
async fn start_pod(client: &Client, image: &str, name: &str) -> Result<String> {
    let mut rt = client.cri_runtime();
    let config = pod(name);
    let pod_id = rt
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: String::new(),
        })
        .await
        .context("RunPodSandbox")?
        .into_inner()
        .pod_sandbox_id;
    let container = cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: "app".into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: image.into(),
            ..cri::ImageSpec::default()
        }),
        command: vec!["sleep".into(), "600".into()],
        ..cri::ContainerConfig::default()
    };
    let id = rt
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod_id.clone(),
            config: Some(container),
            sandbox_config: Some(config),
        })
        .await
        .context("CreateContainer")?
        .into_inner()
        .container_id;
    rt.start_container(cri::StartContainerRequest { container_id: id })
        .await
        .context("StartContainer")?;
    Ok(pod_id)
}

async fn remove_pod(client: &Client, id: &str) -> Result<()> {
    let mut rt = client.cri_runtime();
    rt.stop_pod_sandbox(cri::StopPodSandboxRequest {
        pod_sandbox_id: id.into(),
    })
    .await
    .context("StopPodSandbox")?;
    rt.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: id.into(),
    })
    .await
    .context("RemovePodSandbox")?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, image, runs, parallel] = args.as_slice() else {
        bail!("usage: pod_start <socket> <image> <runs> <parallel>");
    };
    let runs: usize = runs.parse().context("runs")?;
    let parallel: usize = parallel.parse().context("parallel")?;
    // `..default()` keeps this compiling when ConnectOptions grows a field.
    #[allow(clippy::needless_update)]
    let options = ConnectOptions {
        connect_timeout: Some(Duration::from_secs(10)),
        request_timeout: Some(Duration::from_secs(300)),
        ..ConnectOptions::default()
    };
    let client = Client::connect(socket, options)
        .await
        .context("connecting")?;
    let mut sequential = Vec::new();
    let mut pods = Vec::new();
    for i in 0..runs {
        let started = Instant::now();
        pods.push(start_pod(&client, image, &format!("seq-{i}")).await?);
        sequential.push(ms(started.elapsed()));
    }
    for id in pods.drain(..) {
        remove_pod(&client, &id).await?;
    }
    let started = Instant::now();
    let tasks: Vec<_> = (0..parallel)
        .map(|i| {
            let (client, image) = (client.clone(), image.clone());
            tokio::spawn(async move { start_pod(&client, &image, &format!("par-{i}")).await })
        })
        .collect();
    for task in tasks {
        pods.push(task.await.context("joining a pod start")??);
    }
    let parallel_ms = ms(started.elapsed());
    for id in pods {
        remove_pod(&client, &id).await?;
    }
    println!(
        "{}",
        serde_json::json!({"sequential_ms": sequential, "parallel": parallel, "parallel_total_ms": parallel_ms})
    );
    Ok(())
}
