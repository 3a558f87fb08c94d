//! The operations a kill point interrupts: how each starts, how long it
//! roughly takes (the window the kill falls in), and what must hold after
//! the restart: what its client saw succeed is still there, and what was
//! interrupted can be done again.

use crated_e2e::faults::inventory::content_records;
use crated_e2e::faults::{Finding, Rng};
use crated_e2e::workload::{ctr_containers, ctr_task_status};
use crated_e2e::{Background, Output};

use crate::world::{IMPORT_IMAGE, MAX_CONTAINERS, REQUEST, World, write_blob};

/// Bytes of a content write.
const WRITE_SIZE: usize = 4 << 20;

/// An operation of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `ctr images pull`: the client fetches and writes the content.
    CtrPull,
    /// `cratectl images pull`: the daemon's Transfer service fetches.
    TransferPull,
    /// `ctr images import` of an OCI archive.
    Import,
    /// `ctr content ingest` of a 4 MiB blob, fed in part or in full.
    ContentWrite,
    /// `ctr run -d`: container create, task create and start.
    Run,
    /// `ctr tasks rm -f` then `ctr containers rm`.
    Delete,
    /// `ctr images rm --sync`: image delete and the collection it runs.
    ImageDelete,
    /// `ctr leases rm --sync` of the leases killed clients left.
    LeaseDelete,
}

/// Every operation, equally likely.
const ALL: [Op; 8] = [
    Op::CtrPull,
    Op::TransferPull,
    Op::Import,
    Op::ContentWrite,
    Op::Run,
    Op::Delete,
    Op::ImageDelete,
    Op::LeaseDelete,
];

/// What an operation works on, for its check after the restart.
pub enum Subject {
    /// An image reference.
    Image(String),
    /// A content write: its ref, digest and bytes.
    Write(String, String, Vec<u8>),
    /// A container id.
    Container(String),
    /// Lease ids.
    Leases(Vec<String>),
}

impl Op {
    /// The operation's name in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Op::CtrPull => "ctr-pull",
            Op::TransferPull => "transfer-pull",
            Op::Import => "import",
            Op::ContentWrite => "content-write",
            Op::Run => "container-run",
            Op::Delete => "container-delete",
            Op::ImageDelete => "image-delete-gc",
            Op::LeaseDelete => "lease-delete",
        }
    }

    /// The longest delay before the kill (ms): about how long the
    /// operation takes on a loaded test machine, so kills fall in every
    /// stage of it and some after it finished.
    pub fn window_ms(self) -> u64 {
        match self {
            Op::CtrPull | Op::TransferPull => 700,
            Op::Import => 700,
            Op::ContentWrite => 300,
            Op::Run => 1500,
            Op::Delete => 1000,
            Op::ImageDelete | Op::LeaseDelete => 300,
        }
    }

    /// A random operation that fits the world: no run when the container
    /// budget is used up, no delete without a container.
    pub fn choose(world: &World, rng: &mut Rng) -> Op {
        let op = rng.pick(&ALL).copied().unwrap_or(Op::Run);
        match op {
            Op::Run if world.containers.len() >= MAX_CONTAINERS => Op::Delete,
            Op::Delete if world.containers.is_empty() => Op::Run,
            other => other,
        }
    }

    /// Prepares and starts the operation's client in the background.
    pub fn start(
        self,
        world: &mut World,
        rng: &mut Rng,
        found: &mut Vec<Finding>,
    ) -> (Background, Subject) {
        match self {
            Op::CtrPull | Op::TransferPull => {
                let remote = world.remote.clone();
                if world.has_image(&remote) {
                    world.ctr(&["images", "rm", "--sync", &remote]).ok();
                }
                let client = if self == Op::CtrPull {
                    world.spawn_ctr(&["images", "pull", "--plain-http", &remote])
                } else {
                    transfer_pull(world, &remote).spawn()
                };
                (client, Subject::Image(remote))
            }
            Op::Import => {
                if world.has_image(IMPORT_IMAGE) {
                    world.ctr(&["images", "rm", "--sync", IMPORT_IMAGE]).ok();
                }
                let archive = world.import_archive.display().to_string();
                let client = world.spawn_ctr(&["images", "import", &archive]);
                (client, Subject::Image(IMPORT_IMAGE.into()))
            }
            Op::ContentWrite => {
                let reference = world.fresh("write-");
                let (data, digest) = write_blob(rng.next_u64(), WRITE_SIZE);
                let mut client = world.spawn_ctr(&[
                    "content",
                    "ingest",
                    "--expected-digest",
                    &digest,
                    &reference,
                ]);
                let fed = rng.below(WRITE_SIZE as u64 + 1) as usize;
                if let Some(stdin) = client.stdin() {
                    // A client that already failed closes the pipe; its
                    // exit status tells.
                    let _ = std::io::Write::write_all(stdin, &data[..fed]);
                }
                if fed == WRITE_SIZE {
                    client.close_stdin();
                }
                (client, Subject::Write(reference, digest, data))
            }
            Op::Run => {
                let id = world.fresh("c");
                world.containers.insert(id.clone());
                let args = World::run_args(&id);
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                (world.spawn_ctr(&args), Subject::Container(id))
            }
            Op::Delete => {
                let ids: Vec<String> = world.containers.iter().cloned().collect();
                let id = rng.pick(&ids).cloned().unwrap_or_default();
                let client = world.spawn_ctr_script(&[
                    ["tasks", "rm", "-f", &id].map(String::from).to_vec(),
                    ["containers", "rm", &id].map(String::from).to_vec(),
                ]);
                (client, Subject::Container(id))
            }
            Op::ImageDelete => {
                let image = if rng.chance(50) {
                    world.remote.clone()
                } else {
                    IMPORT_IMAGE.to_string()
                };
                if !world.has_image(&image) {
                    found.extend(make_image(world, &image));
                }
                let client = world.spawn_ctr(&["images", "rm", "--sync", &image]);
                (client, Subject::Image(image))
            }
            Op::LeaseDelete => {
                let mut leases = world.ctr(&["leases", "ls", "-q"]).ok().lines();
                if leases.is_empty() {
                    let id = world.fresh("lease-");
                    world.ctr(&["leases", "create", "--id", &id]).ok();
                    leases.push(id);
                }
                let mut args = vec!["leases", "rm", "--sync"];
                args.extend(leases.iter().map(String::as_str));
                (world.spawn_ctr(&args), Subject::Leases(leases))
            }
        }
    }

    /// After the restart: what the client saw succeed holds, and an
    /// interrupted operation can be done again. `victim` is the task whose
    /// init was killed while the daemon was down.
    pub fn verify(
        self,
        world: &mut World,
        subject: &Subject,
        out: &Output,
        victim: Option<&str>,
    ) -> Vec<Finding> {
        let acked = out.succeeded();
        let mut found = Vec::new();
        match (self, subject) {
            (Op::CtrPull | Op::TransferPull | Op::Import, Subject::Image(image)) => {
                if acked && !world.has_image(image) {
                    found.push(Finding::Loss(format!(
                        "{}: {image} was reported done, and is gone",
                        self.name()
                    )));
                }
                if !acked {
                    let again = match self {
                        Op::CtrPull => world.ctr(&["images", "pull", "--plain-http", image]),
                        Op::TransferPull => transfer_pull(world, image).run(),
                        _ => {
                            let archive = world.import_archive.display().to_string();
                            world.ctr(&["images", "import", &archive])
                        }
                    };
                    if !again.succeeded() || !world.has_image(image) {
                        found.push(Finding::Error(format!(
                            "{} again after the restart: {again}",
                            self.name()
                        )));
                    }
                }
            }
            (Op::ContentWrite, Subject::Write(reference, digest, data)) => {
                let present = content_records(&world.daemon, crate::world::NS).contains(digest);
                if acked && !present {
                    found.push(Finding::Loss(format!(
                        "content write {reference}: {digest} was committed, and is gone"
                    )));
                }
                if !acked {
                    let file = world.data_file("resume.bin", data);
                    let size = data.len().to_string();
                    let resumed = world
                        .daemon
                        .ctr_cmd(&[
                            "-n",
                            crate::world::NS,
                            "content",
                            "ingest",
                            "--expected-digest",
                            digest,
                            "--expected-size",
                            &size,
                            reference,
                        ])
                        .stdin_file(&file)
                        .timeout(REQUEST)
                        .run();
                    let present = content_records(&world.daemon, crate::world::NS).contains(digest);
                    if !resumed.succeeded() || !present {
                        found.push(Finding::Error(format!(
                            "resuming content write {reference}: {resumed}"
                        )));
                    }
                }
            }
            (Op::Run, Subject::Container(id)) => {
                let status = ctr_task_status(&world.daemon, crate::world::NS, id);
                if acked && victim != Some(id.as_str()) && status.as_deref() != Some("RUNNING") {
                    found.push(Finding::Loss(format!(
                        "container {id} was started, and its task is {status:?}"
                    )));
                }
            }
            (Op::Delete, Subject::Container(id)) => {
                let listed = ctr_containers(&world.daemon, crate::world::NS).contains(id);
                if acked && listed {
                    found.push(Finding::Loss(format!(
                        "container {id} was deleted, and is back"
                    )));
                }
                found.extend(world.remove_container(id));
            }
            (Op::ImageDelete, Subject::Image(image)) => {
                let listed = world.has_image(image);
                if acked && listed {
                    found.push(Finding::Loss(format!(
                        "image {image} was deleted, and is back"
                    )));
                }
                if listed {
                    let again = world.ctr(&["images", "rm", "--sync", image]);
                    if !again.succeeded() {
                        found.push(Finding::Error(format!("image rm again: {again}")));
                    }
                }
            }
            (Op::LeaseDelete, Subject::Leases(leases)) => {
                let left: Vec<String> = world
                    .ctr(&["leases", "ls", "-q"])
                    .ok()
                    .lines()
                    .into_iter()
                    .filter(|l| leases.contains(l))
                    .collect();
                if acked && !left.is_empty() {
                    found.push(Finding::Loss(format!(
                        "leases {left:?} were deleted, and are back"
                    )));
                }
                if !left.is_empty() {
                    let mut args = vec!["leases", "rm", "--sync"];
                    args.extend(left.iter().map(String::as_str));
                    let again = world.ctr(&args);
                    if !again.succeeded() {
                        found.push(Finding::Error(format!("leases rm again: {again}")));
                    }
                }
            }
            (op, _) => found.push(Finding::Error(format!("{op:?}: mismatched subject"))),
        }
        found
    }
}

/// `cratectl images pull` of `image` over plain HTTP, bounded.
fn transfer_pull(world: &World, image: &str) -> crated_e2e::Cmd {
    world
        .daemon
        .cratectl_cmd(&[
            "-n",
            crate::world::NS,
            "images",
            "pull",
            "--plain-http",
            "--progress",
            "none",
            image,
        ])
        .timeout(REQUEST)
}

/// Pulls or imports `image` so that it can be deleted.
fn make_image(world: &World, image: &str) -> Vec<Finding> {
    let out = if image == IMPORT_IMAGE {
        let archive = world.import_archive.display().to_string();
        world.ctr(&["images", "import", &archive])
    } else {
        world.ctr(&["images", "pull", "--plain-http", image])
    };
    if out.succeeded() {
        Vec::new()
    } else {
        vec![Finding::Error(format!(
            "making {image} to delete it: {out}"
        ))]
    }
}
