//! The load tool's HTTP/1.1 client: kept-alive connections that each carry one request at a time, the
//! request written in one piece, the answer's head parsed by `httparse` and its body read by length (or
//! chunks). What a general client adds per request — a URL parsed, a header map built, a pool keyed by
//! origin, the answer's JSON decoded whether it is read or not — is what kept the generator's own ceiling
//! below the server's (a third of `wrk`'s on the bare baseline): here a request costs about what it costs
//! `wrk`, so an HTTP-bound figure measures the server.

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Connections to one server, reused by whichever task needs one next.
pub struct Client {
    addr: SocketAddr,
    idle: Mutex<Vec<Conn>>,
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// What the head of an answer says about its body.
struct Head {
    status: u16,
    len: usize,
    body: Body,
    close: bool,
}

enum Body {
    Length(usize),
    Chunked,
}

impl Client {
    /// A client of `base`, `http://<ip>:<port>`.
    pub fn new(base: &str) -> Self {
        let addr = base
            .strip_prefix("http://")
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("not http://<ip>:<port>: {base}"));
        Self {
            addr,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends `method path` with `headers` and `body` (its `Content-Length` added) and reads the answer. A
    /// kept-alive connection the server closed meanwhile (its idle timeout) is replaced and the request
    /// sent again — only when nothing of an answer arrived, so no request is applied twice.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Answer> {
        let mut request = Vec::with_capacity(128 + path.len() + body.len());
        request.extend_from_slice(method.as_bytes());
        request.push(b' ');
        request.extend_from_slice(path.as_bytes());
        request.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            request.extend_from_slice(name.as_bytes());
            request.extend_from_slice(b": ");
            request.extend_from_slice(value.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);

        let reused = self.idle.lock().unwrap().pop();
        let (conn, result) = match reused {
            Some(mut conn) => match conn.exchange(&request).await {
                Err(Stale) => {
                    let mut conn = self.connect().await?;
                    let result = conn.exchange(&request).await;
                    (conn, result)
                }
                result => (conn, result),
            },
            None => {
                let mut conn = self.connect().await?;
                let result = conn.exchange(&request).await;
                (conn, result)
            }
        };
        let (answer, keep) = result.map_err(io::Error::from)?;
        if keep {
            self.idle.lock().unwrap().push(conn);
        }
        Ok(answer)
    }

    async fn connect(&self) -> io::Result<Conn> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        })
    }
}

/// Why an exchange failed.
enum Failure {
    /// The connection was closed before any byte of an answer: the request may be sent again.
    Stale,
    Io(io::Error),
}
use Failure::Stale;

impl From<Failure> for io::Error {
    fn from(f: Failure) -> Self {
        match f {
            Stale => io::Error::new(io::ErrorKind::ConnectionReset, "connection closed"),
            Failure::Io(e) => e,
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

impl Conn {
    /// Writes `request` and reads its answer; whether the connection stays usable.
    async fn exchange(&mut self, request: &[u8]) -> Result<(Answer, bool), Failure> {
        self.buf.clear();
        if self.stream.write_all(request).await.is_err() {
            return Err(Stale);
        }
        let head = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            match self.fill().await {
                Ok(0) | Err(_) if self.buf.is_empty() => return Err(Stale),
                Ok(0) => return Err(Failure::Io(eof())),
                Ok(_) => {}
                Err(e) => return Err(Failure::Io(e)),
            }
        };
        let body = match head.body {
            Body::Length(n) => {
                while self.buf.len() < head.len + n {
                    if self.fill().await? == 0 {
                        return Err(Failure::Io(eof()));
                    }
                }
                self.buf[head.len..head.len + n].to_vec()
            }
            Body::Chunked => self.chunked(head.len).await?,
        };
        Ok((
            Answer {
                status: head.status,
                body,
            },
            !head.close,
        ))
    }

    /// Reads more of the answer into the buffer; how many bytes arrived.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(self.buf.capacity().max(16 * 1024));
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// A chunked body starting at `at`, decoded.
    async fn chunked(&mut self, mut at: usize) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        loop {
            match httparse::parse_chunk_size(&self.buf[at..]) {
                Ok(httparse::Status::Complete((skip, size))) => {
                    let size = usize::try_from(size).map_err(|_| invalid("chunk size"))?;
                    // the chunk and its CRLF (the last chunk: the final CRLF, no trailers expected)
                    while self.buf.len() < at + skip + size + 2 {
                        if self.fill().await? == 0 {
                            return Err(Failure::Io(eof()));
                        }
                    }
                    body.extend_from_slice(&self.buf[at + skip..at + skip + size]);
                    at += skip + size + 2;
                    if size == 0 {
                        return Ok(body);
                    }
                }
                Ok(httparse::Status::Partial) => {
                    if self.fill().await? == 0 {
                        return Err(Failure::Io(eof()));
                    }
                }
                Err(_) => return Err(Failure::Io(invalid("chunk size"))),
            }
        }
    }
}

/// The head of an answer in `buf`, once it has all arrived.
fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(&e.to_string())),
    };
    let mut body = Body::Length(0);
    let mut close = response.version == Some(0);
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| invalid("content-length"))?;
            body = Body::Length(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            body = Body::Chunked;
        } else if h.name.eq_ignore_ascii_case("connection") {
            close = h.value.eq_ignore_ascii_case(b"close");
        }
    }
    Ok(Some(Head {
        status: response.code.unwrap_or(0),
        len,
        body,
        close,
    }))
}

fn eof() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed mid-answer")
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("bad answer: {what}"))
}
