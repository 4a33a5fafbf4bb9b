//! Kernel receive timestamps. Every accepted socket asks the kernel for software receive
//! timestamps (`SO_TIMESTAMPING` with `SOF_TIMESTAMPING_RX_SOFTWARE |
//! SOF_TIMESTAMPING_SOFTWARE`); each read is a `recvmsg` whose control message carries the
//! instant the kernel received the data that read returns (for TCP, the newest segment it
//! covers), on the wall clock. Next to the instant the server read it, that tells the delay
//! the concurrency mode itself adds. See `docs/events.md` (`kernel_unix_ms`).

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd};

use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, TimestampingFlag, recvmsg, setsockopt, sockopt,
};

/// Control-message space for one `SCM_TIMESTAMPING` (three timespecs), with room to spare.
const CMSG_BYTES: usize = 128;

/// Turns on software receive timestamps for `socket`; false where the platform refuses
/// (then reads carry no kernel instant and the log leaves the fields out).
pub(crate) fn enable(socket: &impl AsFd) -> bool {
    setsockopt(
        socket,
        sockopt::Timestamping,
        &(TimestampingFlag::SOF_TIMESTAMPING_RX_SOFTWARE
            | TimestampingFlag::SOF_TIMESTAMPING_SOFTWARE),
    )
    .is_ok()
}

/// One read of `socket` into `buf`: the bytes read and the kernel's receive instant of
/// them in nanoseconds since the Unix epoch (`None` when the kernel gave none, and at end of
/// stream). `dont_wait` makes it return `WouldBlock` instead of waiting for data.
pub(crate) fn recv(
    socket: &impl AsRawFd,
    buf: &mut [u8],
    dont_wait: bool,
) -> io::Result<(usize, Option<u64>)> {
    let mut cmsg = [0u8; CMSG_BYTES];
    let mut iov = [IoSliceMut::new(buf)];
    let flags = if dont_wait {
        MsgFlags::MSG_DONTWAIT
    } else {
        MsgFlags::empty()
    };
    let msg = recvmsg::<()>(socket.as_raw_fd(), &mut iov, Some(&mut cmsg), flags)
        .map_err(io::Error::from)?;
    let n = msg.bytes;
    if n == 0 {
        return Ok((0, None));
    }
    let kernel = msg.cmsgs().ok().and_then(|mut cmsgs| {
        cmsgs.find_map(|c| match c {
            ControlMessageOwned::ScmTimestampsns(ts) => {
                let ns = i128::from(ts.system.tv_sec()) * 1_000_000_000
                    + i128::from(ts.system.tv_nsec());
                // An all-zero software stamp means the kernel took none.
                u64::try_from(ns).ok().filter(|&ns| ns > 0)
            }
            _ => None,
        })
    });
    Ok((n, kernel))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    fn now_ns() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64
    }

    #[test]
    fn reads_carry_the_kernel_instant_the_data_arrived() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        assert!(
            enable(&listener),
            "software receive timestamps are available on Linux"
        );
        let mut peer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        assert!(enable(&server));
        // The kernel switches receive timestamping on for the whole host asynchronously
        // when the first socket asks (a work item): the first packets after that may come
        // unstamped. A bounded number of round trips finds a stamped one.
        let mut stamped = None;
        let mut buf = [0u8; 64];
        for _ in 0..1000 {
            let before = now_ns();
            peer.write_all(b"hello\n").expect("write");
            let (n, kernel) = recv(&server, &mut buf, false).expect("recv");
            let after = now_ns();
            assert_eq!(&buf[..n], b"hello\n");
            if let Some(kernel) = kernel {
                stamped = Some((before, kernel, after));
                break;
            }
        }
        let (before, kernel, after) = stamped.expect("a stamped read within 1000 round trips");
        assert!(
            before <= kernel && kernel <= after,
            "{before} {kernel} {after}"
        );
        drop(peer);
        assert_eq!(recv(&server, &mut buf, false).expect("eof"), (0, None));
        let err = recv(&server, &mut buf, true);
        assert!(matches!(err, Ok((0, None))), "{err:?}");
    }
}
