//! Loopback traffic that the kernel tracks: the one request/response exchange that both
//! `ctrack demo` and the fixture capture (`cargo xtask fixtures`) run (feature `traffic`;
//! hidden from the docs and not part of the API).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};

/// The request the client writes; the server reads exactly this many bytes.
const REQUEST: &[u8] = b"GET / HTTP/1.0\r\n\r\n";
/// The response the server writes back.
const RESPONSE: &[u8] = b"HTTP/1.0 200 OK\r\n\r\n";

/// Connects to `addr` (which `listener` must accept, directly or through a DNAT rule), and
/// moves one small request and one response over the connection, so its entry is
/// `ESTABLISHED` with bytes counted in both directions. Returns the (client, server) pair;
/// dropping them closes the connection.
pub fn http_exchange(
    addr: impl ToSocketAddrs,
    listener: &TcpListener,
) -> io::Result<(TcpStream, TcpStream)> {
    let mut client = TcpStream::connect(addr)?;
    let (mut server, _) = listener.accept()?;
    client.write_all(REQUEST)?;
    let mut request = [0u8; REQUEST.len()];
    server.read_exact(&mut request)?;
    server.write_all(RESPONSE)?;
    Ok((client, server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exchange_moves_the_request_and_the_response() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (mut client, _server) =
            http_exchange(listener.local_addr().unwrap(), &listener).unwrap();
        let mut response = [0u8; RESPONSE.len()];
        client.read_exact(&mut response).unwrap();
        assert_eq!(&response, RESPONSE);
    }
}
