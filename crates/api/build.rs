//! Generates tonic server traits for containerd's gRPC services over the
//! message types that the `containerd-client` crate already carries, so the
//! daemon and the client share one set of wire types.

use tonic_build::manual::{Builder, Method, Service};

/// One RPC: name, input type, output type, client streaming, server streaming.
type Rpc = (&'static str, &'static str, &'static str, bool, bool);

const V1: &str = "::containerd_client::services::v1";
const SNAP: &str = "::containerd_client::services::v1::snapshots";
const EMPTY: &str = "crate::Empty";

fn service(package: &str, name: &str, types: &str, rpcs: &[Rpc]) -> Service {
    let mut builder = Service::builder().name(name).package(package);
    for (rpc, input, output, client_stream, server_stream) in rpcs {
        let path = |ty: &str| {
            if ty == EMPTY || ty.contains("::") {
                ty.to_string()
            } else {
                format!("{types}::{ty}")
            }
        };
        let mut method = Method::builder()
            .name(snake_case(rpc))
            .route_name(*rpc)
            .input_type(path(input))
            .output_type(path(output))
            .codec_path("::tonic_prost::ProstCodec");
        if *client_stream {
            method = method.client_streaming();
        }
        if *server_stream {
            method = method.server_streaming();
        }
        builder = builder.method(method.build());
    }
    builder.build()
}

fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev_lower = chars[i - 1].is_ascii_lowercase();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev_lower || (next_lower && chars[i - 1].is_ascii_uppercase()) {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn main() {
    let services = [
        service(
            "containerd.services.version.v1",
            "Version",
            V1,
            &[("Version", EMPTY, "VersionResponse", false, false)],
        ),
        service(
            "containerd.services.introspection.v1",
            "Introspection",
            V1,
            &[
                ("Plugins", "PluginsRequest", "PluginsResponse", false, false),
                ("Server", EMPTY, "ServerResponse", false, false),
                (
                    "PluginInfo",
                    "PluginInfoRequest",
                    "PluginInfoResponse",
                    false,
                    false,
                ),
            ],
        ),
        service(
            "containerd.services.namespaces.v1",
            "Namespaces",
            V1,
            &[
                (
                    "Get",
                    "GetNamespaceRequest",
                    "GetNamespaceResponse",
                    false,
                    false,
                ),
                (
                    "List",
                    "ListNamespacesRequest",
                    "ListNamespacesResponse",
                    false,
                    false,
                ),
                (
                    "Create",
                    "CreateNamespaceRequest",
                    "CreateNamespaceResponse",
                    false,
                    false,
                ),
                (
                    "Update",
                    "UpdateNamespaceRequest",
                    "UpdateNamespaceResponse",
                    false,
                    false,
                ),
                ("Delete", "DeleteNamespaceRequest", EMPTY, false, false),
            ],
        ),
        service(
            "containerd.services.events.v1",
            "Events",
            V1,
            &[
                ("Publish", "PublishRequest", EMPTY, false, false),
                ("Forward", "ForwardRequest", EMPTY, false, false),
                (
                    "Subscribe",
                    "SubscribeRequest",
                    "::containerd_client::types::Envelope",
                    false,
                    true,
                ),
            ],
        ),
        service(
            "containerd.services.leases.v1",
            "Leases",
            V1,
            &[
                ("Create", "CreateRequest", "CreateResponse", false, false),
                ("Delete", "DeleteRequest", EMPTY, false, false),
                ("List", "ListRequest", "ListResponse", false, false),
                ("AddResource", "AddResourceRequest", EMPTY, false, false),
                (
                    "DeleteResource",
                    "DeleteResourceRequest",
                    EMPTY,
                    false,
                    false,
                ),
                (
                    "ListResources",
                    "ListResourcesRequest",
                    "ListResourcesResponse",
                    false,
                    false,
                ),
            ],
        ),
        service(
            "containerd.services.content.v1",
            "Content",
            V1,
            &[
                ("Info", "InfoRequest", "InfoResponse", false, false),
                ("Update", "UpdateRequest", "UpdateResponse", false, false),
                (
                    "List",
                    "ListContentRequest",
                    "ListContentResponse",
                    false,
                    true,
                ),
                ("Delete", "DeleteContentRequest", EMPTY, false, false),
                (
                    "Read",
                    "ReadContentRequest",
                    "ReadContentResponse",
                    false,
                    true,
                ),
                ("Status", "StatusRequest", "StatusResponse", false, false),
                (
                    "ListStatuses",
                    "ListStatusesRequest",
                    "ListStatusesResponse",
                    false,
                    false,
                ),
                (
                    "Write",
                    "WriteContentRequest",
                    "WriteContentResponse",
                    true,
                    true,
                ),
                ("Abort", "AbortRequest", EMPTY, false, false),
            ],
        ),
        service(
            "containerd.services.containers.v1",
            "Containers",
            V1,
            &[
                (
                    "Get",
                    "GetContainerRequest",
                    "GetContainerResponse",
                    false,
                    false,
                ),
                (
                    "List",
                    "ListContainersRequest",
                    "ListContainersResponse",
                    false,
                    false,
                ),
                (
                    "ListStream",
                    "ListContainersRequest",
                    "ListContainerMessage",
                    false,
                    true,
                ),
                (
                    "Create",
                    "CreateContainerRequest",
                    "CreateContainerResponse",
                    false,
                    false,
                ),
                (
                    "Update",
                    "UpdateContainerRequest",
                    "UpdateContainerResponse",
                    false,
                    false,
                ),
                ("Delete", "DeleteContainerRequest", EMPTY, false, false),
            ],
        ),
        service(
            "containerd.services.images.v1",
            "Images",
            V1,
            &[
                ("Get", "GetImageRequest", "GetImageResponse", false, false),
                (
                    "List",
                    "ListImagesRequest",
                    "ListImagesResponse",
                    false,
                    false,
                ),
                (
                    "Create",
                    "CreateImageRequest",
                    "CreateImageResponse",
                    false,
                    false,
                ),
                (
                    "Update",
                    "UpdateImageRequest",
                    "UpdateImageResponse",
                    false,
                    false,
                ),
                ("Delete", "DeleteImageRequest", EMPTY, false, false),
            ],
        ),
        service(
            "containerd.services.snapshots.v1",
            "Snapshots",
            SNAP,
            &[
                (
                    "Prepare",
                    "PrepareSnapshotRequest",
                    "PrepareSnapshotResponse",
                    false,
                    false,
                ),
                (
                    "View",
                    "ViewSnapshotRequest",
                    "ViewSnapshotResponse",
                    false,
                    false,
                ),
                ("Mounts", "MountsRequest", "MountsResponse", false, false),
                ("Commit", "CommitSnapshotRequest", EMPTY, false, false),
                ("Remove", "RemoveSnapshotRequest", EMPTY, false, false),
                (
                    "Stat",
                    "StatSnapshotRequest",
                    "StatSnapshotResponse",
                    false,
                    false,
                ),
                (
                    "Update",
                    "UpdateSnapshotRequest",
                    "UpdateSnapshotResponse",
                    false,
                    false,
                ),
                (
                    "List",
                    "ListSnapshotsRequest",
                    "ListSnapshotsResponse",
                    false,
                    true,
                ),
                ("Usage", "UsageRequest", "UsageResponse", false, false),
                ("Cleanup", "CleanupRequest", EMPTY, false, false),
            ],
        ),
        service(
            "containerd.services.diff.v1",
            "Diff",
            V1,
            &[
                ("Apply", "ApplyRequest", "ApplyResponse", false, false),
                ("Diff", "DiffRequest", "DiffResponse", false, false),
            ],
        ),
        service(
            "containerd.services.tasks.v1",
            "Tasks",
            V1,
            &[
                (
                    "Create",
                    "CreateTaskRequest",
                    "CreateTaskResponse",
                    false,
                    false,
                ),
                ("Start", "StartRequest", "StartResponse", false, false),
                (
                    "Delete",
                    "DeleteTaskRequest",
                    "DeleteResponse",
                    false,
                    false,
                ),
                (
                    "DeleteProcess",
                    "DeleteProcessRequest",
                    "DeleteResponse",
                    false,
                    false,
                ),
                ("Get", "GetRequest", "GetResponse", false, false),
                (
                    "List",
                    "ListTasksRequest",
                    "ListTasksResponse",
                    false,
                    false,
                ),
                ("Kill", "KillRequest", EMPTY, false, false),
                ("Exec", "ExecProcessRequest", EMPTY, false, false),
                ("ResizePty", "ResizePtyRequest", EMPTY, false, false),
                ("CloseIO", "CloseIoRequest", EMPTY, false, false),
                ("Pause", "PauseTaskRequest", EMPTY, false, false),
                ("Resume", "ResumeTaskRequest", EMPTY, false, false),
                (
                    "ListPids",
                    "ListPidsRequest",
                    "ListPidsResponse",
                    false,
                    false,
                ),
                (
                    "Checkpoint",
                    "CheckpointTaskRequest",
                    "CheckpointTaskResponse",
                    false,
                    false,
                ),
                ("Update", "UpdateTaskRequest", EMPTY, false, false),
                ("Metrics", "MetricsRequest", "MetricsResponse", false, false),
                ("Wait", "WaitRequest", "WaitResponse", false, false),
            ],
        ),
        service(
            "containerd.services.streaming.v1",
            "Streaming",
            V1,
            &[(
                "Stream",
                "::prost_types::Any",
                "::prost_types::Any",
                true,
                true,
            )],
        ),
        service(
            "containerd.services.transfer.v1",
            "Transfer",
            V1,
            &[("Transfer", "TransferRequest", EMPTY, false, false)],
        ),
    ];
    Builder::new()
        .build_client(false)
        .build_server(true)
        .build_transport(true)
        .compile(&services);
}
