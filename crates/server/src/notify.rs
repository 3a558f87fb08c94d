//! systemd's readiness protocol (`sd_notify`): when systemd starts crated
//! with `Type=notify`, it sets `NOTIFY_SOCKET` to a unix datagram socket
//! (a path, or `@name` for an abstract one) and waits for `READY=1`.
//! `STOPPING=1` tells it a shutdown has begun.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The daemon serves.
pub const READY: &str = "READY=1";
/// The daemon is shutting down.
pub const STOPPING: &str = "STOPPING=1";

/// Sends `state` to systemd if `NOTIFY_SOCKET` is set; returns whether a
/// message was sent. A failure is logged, never fatal.
pub fn notify(state: &str) -> bool {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    let socket = socket.to_string_lossy();
    match notify_to(&socket, state) {
        Ok(()) => {
            tracing::debug!(%socket, state, "notified systemd");
            true
        }
        Err(e) => {
            tracing::warn!(%socket, state, error = %e, "cannot notify systemd");
            false
        }
    }
}

/// Sends `state` as one datagram to the notify socket `socket`.
pub fn notify_to(socket: &str, state: &str) -> io::Result<()> {
    let addr = match socket.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name.as_bytes())?
        }
        None => SocketAddr::from_pathname(socket)?,
    };
    let sender = UnixDatagram::unbound()?;
    let sent = sender.send_to_addr(state.as_bytes(), &addr)?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("sent {sent} of {} bytes", state.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let systemd = UnixDatagram::bind(&path).unwrap();
        notify_to(path.to_str().unwrap(), READY).unwrap();
        notify_to(path.to_str().unwrap(), STOPPING).unwrap();
        let mut buf = [0u8; 64];
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn datagrams_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("crated-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let systemd = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(&format!("@{name}"), READY).unwrap();
        let mut buf = [0u8; 64];
        let n = systemd.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent");
        assert!(notify_to(path.to_str().unwrap(), READY).is_err());
    }
}
