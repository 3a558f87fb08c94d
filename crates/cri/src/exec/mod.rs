//! Running commands in containers: ExecSync, and the streaming URLs of
//! Exec, Attach and PortForward.

use crated_api::cri;

use crate::service::CriService;
use crate::{Error, Result};

impl CriService {
    /// `ExecSync`.
    pub(crate) async fn exec_sync(
        &self,
        _req: cri::ExecSyncRequest,
    ) -> Result<cri::ExecSyncResponse> {
        Err(Error::Unimplemented { what: "ExecSync" })
    }
    /// `Exec`.
    pub(crate) async fn exec(&self, _req: cri::ExecRequest) -> Result<cri::ExecResponse> {
        Err(Error::Unimplemented { what: "Exec" })
    }

    /// `Attach`.
    pub(crate) async fn attach(&self, _req: cri::AttachRequest) -> Result<cri::AttachResponse> {
        Err(Error::Unimplemented { what: "Attach" })
    }

    /// `PortForward`.
    pub(crate) async fn port_forward(
        &self,
        _req: cri::PortForwardRequest,
    ) -> Result<cri::PortForwardResponse> {
        Err(Error::Unimplemented {
            what: "PortForward",
        })
    }
}
