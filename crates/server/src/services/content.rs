//! `containerd.services.content.v1.Content`.

use std::collections::HashMap;
use std::pin::Pin;

use crated_api::events::{ContentCreate, ContentDelete};
use crated_api::server::content_server::{Content, ContentServer};
use crated_api::services::v1::{
    AbortRequest, DeleteContentRequest, Info, InfoRequest, InfoResponse, ListContentRequest,
    ListContentResponse, ListStatusesRequest, ListStatusesResponse, ReadContentRequest,
    ReadContentResponse, Status as ApiStatus, StatusRequest, StatusResponse, UpdateRequest,
    UpdateResponse, WriteAction, WriteContentRequest, WriteContentResponse,
};
use crated_api::tonic::{Request, Response, Status, Streaming};
use crated_core::content::{Info as CoreInfo, Status as CoreStatus};
use crated_core::errconv::bare_status;
use crated_core::filters::Adaptor;
use crated_core::{Error, ErrorKind};
use crated_metadata::{NamespacedContent, NamespacedWriter};
use futures::Stream;
use tokio::sync::mpsc::Sender;

use super::events::async_stream;
use super::{GrpcService, blocking, from_timestamp, lease, namespace, parse_filters, timestamp};
use crate::exchange::Exchange;
use crate::gc::GcTrigger;

/// Bytes per Read response message.
const READ_CHUNK: usize = 1 << 20;
/// Infos per List response message.
const LIST_BATCH: usize = 100;

/// The Content service.
pub struct ContentService {
    store: NamespacedContent,
    events: Exchange,
    gc: GcTrigger,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn info_to_api(i: CoreInfo) -> Info {
    Info {
        digest: i.digest,
        size: i.size,
        created_at: Some(timestamp(i.created_at)),
        updated_at: Some(timestamp(i.updated_at)),
        labels: i.labels,
    }
}

fn status_to_api(s: CoreStatus) -> ApiStatus {
    ApiStatus {
        started_at: Some(timestamp(s.started_at)),
        updated_at: Some(timestamp(s.updated_at)),
        r#ref: s.reference,
        offset: s.offset,
        total: s.total,
        expected: s.expected,
    }
}

struct InfoFields<'a>(&'a CoreInfo);

impl Adaptor for InfoFields<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        match path.first().map(String::as_str)? {
            "digest" if path.len() == 1 => Some(self.0.digest.clone()),
            "size" if path.len() == 1 => Some(self.0.size.to_string()),
            "labels" => crated_core::filters::label_field(&self.0.labels, &path[1..]),
            _ => None,
        }
    }
}

struct StatusFields<'a>(&'a CoreStatus);

impl Adaptor for StatusFields<'_> {
    fn field(&self, path: &[String]) -> Option<String> {
        match path {
            [f] if f == "ref" => Some(self.0.reference.clone()),
            _ => None,
        }
    }
}

/// One Write stream: the open writer and what the client said so far.
struct WriteSession {
    writer: NamespacedWriter,
    total: i64,
    expected: String,
}

impl WriteSession {
    /// Handles one request, as containerd's content server does.
    fn handle(
        &mut self,
        store: &NamespacedContent,
        ns: &str,
        req: WriteContentRequest,
    ) -> Result<(WriteContentResponse, Option<(String, i64)>), Status> {
        let action = WriteAction::try_from(req.action).map_err(|_| {
            Status::from(Error::invalid_argument(format!(
                "unknown write action {}",
                req.action
            )))
        })?;
        let ws = self.writer.status()?;
        let mut msg = WriteContentResponse {
            action: req.action,
            offset: ws.offset,
            ..Default::default()
        };
        if !req.expected.is_empty() {
            self.expected = req.expected.clone();
            if store.info(ns, &req.expected).is_ok() {
                return Err(bare_status(
                    ErrorKind::AlreadyExists,
                    format!("blob with expected digest {} exists", req.expected),
                ));
            }
        }
        if req.total > 0 {
            self.total = req.total;
        }
        let mut committed = None;
        match action {
            WriteAction::Stat => {
                msg.digest = self.writer.digest();
                msg.started_at = Some(timestamp(ws.started_at));
                msg.updated_at = Some(timestamp(ws.updated_at));
                msg.total = self.total;
            }
            WriteAction::Write | WriteAction::Commit => {
                if req.offset > 0 && req.offset != ws.offset {
                    return Err(bare_status(
                        ErrorKind::OutOfRange,
                        format!(
                            "write @{} must occur at current offset {}",
                            req.offset, ws.offset
                        ),
                    ));
                }
                if req.offset == 0 && ws.offset > 0 {
                    self.writer.truncate(0)?;
                    msg.offset = 0;
                }
                if !req.data.is_empty() {
                    self.writer.write(&req.data)?;
                    msg.offset += req.data.len() as i64;
                }
                if action == WriteAction::Commit {
                    let labels: HashMap<String, String> = req.labels;
                    let d = self.writer.commit(self.total, &self.expected, labels)?;
                    committed = Some((d, msg.offset));
                }
                msg.digest = self.writer.digest();
            }
        }
        Ok((msg, committed))
    }
}

impl ContentService {
    async fn run_write(
        store: NamespacedContent,
        events: Exchange,
        ns: String,
        lease: Option<String>,
        mut input: Streaming<WriteContentRequest>,
        tx: Sender<Result<WriteContentResponse, Status>>,
    ) {
        let first = match input.message().await {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        if first.r#ref.is_empty() {
            let _ = tx
                .send(Err(bare_status(
                    ErrorKind::InvalidArgument,
                    "first message must have a reference",
                )))
                .await;
            return;
        }
        let opened = {
            let (store, ns, first) = (store.clone(), ns.clone(), first.clone());
            blocking(move || {
                store.writer(
                    &ns,
                    &first.r#ref,
                    first.total,
                    &first.expected,
                    lease.as_deref(),
                )
            })
            .await
        };
        let writer = match opened {
            Ok(w) => w,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let mut session = WriteSession {
            writer,
            total: first.total,
            expected: first.expected.clone(),
        };
        let mut next = Some(first);
        while let Some(req) = next.take() {
            let is_commit = req.action == WriteAction::Commit as i32;
            let result = tokio::task::block_in_place(|| session.handle(&store, &ns, req));
            match result {
                Ok((msg, committed)) => {
                    if let Some((digest, size)) = committed {
                        events.publish_message(
                            &ns,
                            "/content/create",
                            &ContentCreate { digest, size },
                        );
                    }
                    if tx.send(Ok(msg)).await.is_err() || is_commit {
                        return;
                    }
                }
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            }
            next = match input.message().await {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(namespace = %ns, error = %e, "content write stream ended");
                    None
                }
            };
        }
    }
}

#[tonic::async_trait]
impl Content for ContentService {
    async fn info(&self, req: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let ns = namespace(&req)?;
        let d = req.into_inner().digest;
        let store = self.store.clone();
        let info = blocking(move || store.info(&ns, &d)).await?;
        Ok(Response::new(InfoResponse {
            info: Some(info_to_api(info)),
        }))
    }

    async fn update(
        &self,
        req: Request<UpdateRequest>,
    ) -> Result<Response<UpdateResponse>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let info = req
            .info
            .ok_or_else(|| Error::invalid_argument("info must be set"))?;
        let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
        let core = CoreInfo {
            digest: info.digest,
            size: info.size,
            created_at: from_timestamp(info.created_at.as_ref()),
            updated_at: from_timestamp(info.updated_at.as_ref()),
            labels: info.labels,
        };
        let store = self.store.clone();
        let updated = blocking(move || store.update(&ns, core, &paths)).await?;
        Ok(Response::new(UpdateResponse {
            info: Some(info_to_api(updated)),
        }))
    }

    type ListStream = BoxStream<ListContentResponse>;

    async fn list(
        &self,
        req: Request<ListContentRequest>,
    ) -> Result<Response<Self::ListStream>, Status> {
        let ns = namespace(&req)?;
        let filter = parse_filters(&req.into_inner().filters)?;
        let store = self.store.clone();
        let infos = blocking(move || store.list(&ns)).await?;
        let matching: Vec<Info> = infos
            .into_iter()
            .filter(|i| filter.matches(&InfoFields(i)))
            .map(info_to_api)
            .collect();
        let stream = async_stream(move |tx| async move {
            for chunk in matching.chunks(LIST_BATCH) {
                if tx
                    .send(Ok(ListContentResponse {
                        info: chunk.to_vec(),
                    }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn delete(&self, req: Request<DeleteContentRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let d = req.into_inner().digest;
        let (store, ns2, d2) = (self.store.clone(), ns.clone(), d.clone());
        blocking(move || store.delete(&ns2, &d2)).await?;
        self.events
            .publish_message(&ns, "/content/delete", &ContentDelete { digest: d });
        self.gc.mutation(true);
        Ok(Response::new(()))
    }

    type ReadStream = BoxStream<ReadContentResponse>;

    async fn read(
        &self,
        req: Request<ReadContentRequest>,
    ) -> Result<Response<Self::ReadStream>, Status> {
        let ns = namespace(&req)?;
        let req = req.into_inner();
        let store = self.store.clone();
        let d = req.digest.clone();
        let reader = blocking(move || store.reader_at(&ns, &d)).await?;
        let size = reader.size() as i64;
        let offset = req.offset.max(0);
        if offset > size {
            return Err(bare_status(
                ErrorKind::OutOfRange,
                format!("read past object length {size} bytes"),
            ));
        }
        let len = if req.size <= 0 || offset + req.size > size {
            size - offset
        } else {
            req.size
        };
        let stream = async_stream(move |tx| async move {
            let mut pos = offset;
            let end = offset + len;
            while pos < end {
                let want = READ_CHUNK.min((end - pos) as usize);
                let mut buf = vec![0u8; want];
                let read = tokio::task::block_in_place(|| reader.read_at(&mut buf, pos as u64));
                match read {
                    Ok(0) => break,
                    Ok(n) => {
                        buf.truncate(n);
                        let msg = ReadContentResponse {
                            offset: pos,
                            data: buf,
                        };
                        pos += n as i64;
                        if tx.send(Ok(msg)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(Status::from(e))).await;
                        return;
                    }
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn status(
        &self,
        req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let ns = namespace(&req)?;
        let reference = req.into_inner().r#ref;
        let store = self.store.clone();
        let status = blocking(move || store.status(&ns, &reference)).await?;
        Ok(Response::new(StatusResponse {
            status: Some(status_to_api(status)),
        }))
    }

    async fn list_statuses(
        &self,
        req: Request<ListStatusesRequest>,
    ) -> Result<Response<ListStatusesResponse>, Status> {
        let ns = namespace(&req)?;
        let filter = parse_filters(&req.into_inner().filters)?;
        let store = self.store.clone();
        let statuses = blocking(move || store.list_statuses(&ns)).await?;
        let statuses = statuses
            .into_iter()
            .filter(|s| filter.matches(&StatusFields(s)))
            .map(status_to_api)
            .collect();
        Ok(Response::new(ListStatusesResponse { statuses }))
    }

    type WriteStream = BoxStream<WriteContentResponse>;

    async fn write(
        &self,
        req: Request<Streaming<WriteContentRequest>>,
    ) -> Result<Response<Self::WriteStream>, Status> {
        let ns = namespace(&req)?;
        let lease = lease(&req);
        let input = req.into_inner();
        let (store, events) = (self.store.clone(), self.events.clone());
        let stream = async_stream(move |tx| Self::run_write(store, events, ns, lease, input, tx));
        Ok(Response::new(stream))
    }

    async fn abort(&self, req: Request<AbortRequest>) -> Result<Response<()>, Status> {
        let ns = namespace(&req)?;
        let reference = req.into_inner().r#ref;
        let store = self.store.clone();
        blocking(move || store.abort(&ns, &reference)).await?;
        Ok(Response::new(()))
    }
}

/// The service as a gRPC plugin instance.
pub fn service(store: NamespacedContent, events: Exchange, gc: GcTrigger) -> GrpcService {
    GrpcService::new(move |routes, limits| {
        crate::services::limited!(
            routes,
            limits,
            ContentServer::new(ContentService {
                store: store.clone(),
                events: events.clone(),
                gc: gc.clone(),
            }),
        )
    })
}
