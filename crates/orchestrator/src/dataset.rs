//! The data of one recorded run, derived only from its files (`run.json` and the two event
//! logs): connections and messages joined to the client group that made them, what each
//! client worker did (connect instants, sends), and the gap lists derived from both sides.

use std::collections::BTreeMap;
use std::path::Path;

use arrivals::events::CloseReason;
use arrivals::{ClientEvent, Mode, Record, ServerEvent};

use crate::runinfo::RunInfo;
use crate::scenario::{Scenario, ScenarioError};

/// Why a recorded run cannot be analysed.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("the scenario recorded in {path} is invalid: {source}")]
    Scenario { path: String, source: ScenarioError },
    #[error("{path}: the server log has no connection_accepted event for connection {conn}")]
    UnknownConnection { path: String, conn: u64 },
}

/// Label used for connections that no client group claims.
pub const UNMATCHED: &str = "unmatched";

/// One connection as the server saw it, joined to the client worker that opened it.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub conn: u64,
    /// Index into the scenario's client groups.
    pub group: Option<usize>,
    /// The client's worker number within its group.
    pub worker: Option<u32>,
    pub peer: String,
    pub pid: u32,
    pub tid: u64,
    /// Milliseconds since the first accept.
    pub accept_ms: f64,
    /// The accept instant on the server's wall clock (ms since the Unix epoch).
    pub accept_unix_ms: f64,
    pub close_ms: Option<f64>,
    /// Time since the previous accept (none for the first connection).
    pub gap_ms: Option<f64>,
    pub messages: u64,
    pub close_reason: Option<CloseReason>,
}

impl Connection {
    /// How long the connection was open; up to the server's stop if it never closed.
    pub fn lifetime_ms(&self, end_ms: f64) -> f64 {
        self.close_ms.unwrap_or(end_ms) - self.accept_ms
    }
}

/// One message as the server received it, joined to what the client drew for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub conn: u64,
    pub group: Option<usize>,
    pub worker: Option<u32>,
    /// Message number on its connection.
    pub seq: u64,
    /// The event number written in the message.
    pub event: Option<u32>,
    /// Milliseconds since the first accept.
    pub recv_ms: f64,
    pub gap_ms: f64,
    pub latency_ms: Option<f64>,
    /// The data gap on the kernel's receive clock, and the server's read instant minus the
    /// kernel's arrival instant (absent where the platform gave no receive timestamp).
    pub kernel_gap_ms: Option<f64>,
    pub server_delay_ms: Option<f64>,
    /// When the kernel had the message's bytes (ms since the Unix epoch).
    pub kernel_unix_ms: Option<f64>,
    pub bytes: usize,
    /// The interval the client drew for this message, and how late it sent it.
    pub interval_ms: Option<f64>,
    pub lateness_ms: Option<f64>,
    /// The client's actual send gap for this message (see [`send_gaps`]).
    pub send_gap_ms: Option<f64>,
}

/// One `message_sent` event of a client worker. Times are on the client process's `t_ms`
/// clock.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Send {
    pub group: Option<usize>,
    pub worker: u32,
    pub seq: u32,
    pub interval_ms: f64,
    pub scheduled_ms: f64,
    pub actual_ms: f64,
    pub lateness_ms: f64,
}

/// A client worker that failed (`worker_error`).
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerError {
    pub group: Option<usize>,
    pub worker: u32,
    pub error: String,
}

/// A send's group, worker and seq.
type SendKey = (Option<usize>, u32, u32);

/// When a client worker called `connect` (wall clock, ms since the Unix epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Connect {
    pub group: Option<usize>,
    pub worker: u32,
    pub connect_unix_ms: f64,
}

/// The actual send gaps of one worker's sends (in any order), as `(seq, gap)` by seq: the
/// gap of event j is actual(j) − actual(j − 1), with actual(0) the worker's schedule start,
/// scheduled(1) − interval(1). A send whose predecessor is missing from the log (a worker
/// that failed) has no gap.
pub fn send_gaps(sends: &[Send]) -> Vec<(u32, f64)> {
    let mut by_seq: Vec<&Send> = sends.iter().collect();
    by_seq.sort_by_key(|s| s.seq);
    let mut out = Vec::with_capacity(by_seq.len());
    let mut previous: Option<(u32, f64)> = None;
    for s in by_seq {
        let before = if s.seq == 1 {
            Some(s.scheduled_ms - s.interval_ms)
        } else {
            previous
                .filter(|(seq, _)| *seq + 1 == s.seq)
                .map(|(_, actual)| actual)
        };
        if let Some(before) = before {
            out.push((s.seq, s.actual_ms - before));
        }
        previous = Some((s.seq, s.actual_ms));
    }
    out
}

/// Consecutive differences of `instants` once sorted: n instants give n − 1 gaps.
pub fn gaps_between(instants: &[f64]) -> Vec<f64> {
    let mut sorted = instants.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.windows(2).map(|w| w[1] - w[0]).collect()
}

/// What the server reported in its final `server_stopped` event.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stopped {
    pub connections: u64,
    pub messages: u64,
    pub connection_gaps: u64,
    pub avg_connection_gap_ms: Option<f64>,
    pub data_gaps: u64,
    pub avg_data_gap_ms: Option<f64>,
}

/// A recorded run, analysed.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub info: RunInfo,
    pub scenario: Scenario,
    pub mode: Mode,
    /// In accept order.
    pub connections: Vec<Connection>,
    /// By connection, then sequence number.
    pub messages: Vec<Message>,
    pub stopped: Option<Stopped>,
    /// When the server stopped, ms since the first accept.
    pub end_ms: f64,
    /// Connection errors the server logged, as `(conn, error)`.
    pub errors: Vec<(u64, String)>,
    /// Messages the clients logged as sent, per group.
    pub sent: Vec<u64>,
    /// Every `message_sent` of the clients, by group, worker and seq.
    pub sends: Vec<Send>,
    /// Every worker's connect instant, by group and worker.
    pub connects: Vec<Connect>,
    /// The client workers that failed, in log order.
    pub worker_errors: Vec<WorkerError>,
}

impl Dataset {
    /// Joins the records of one run; `origin` names the run folder in errors.
    pub fn new(
        origin: &Path,
        info: RunInfo,
        server: &[Record<ServerEvent>],
        client: &[(String, Record<ClientEvent>)],
    ) -> Result<Self, DatasetError> {
        let scenario = Scenario::from_recorded(
            &info.scenario,
            &info.scenario_text,
            Path::new(&info.scenario_file),
        )
        .map_err(|source| DatasetError::Scenario {
            path: origin.join("run.json").display().to_string(),
            source,
        })?;
        // A step of a load sweep: the swept group as it ran at that step.
        let scenario = match info.step {
            Some(i) => scenario.at_step(i),
            None => scenario,
        };
        let clients = ClientSide::read(&scenario, client);
        let mut connections = accepted(server, &clients.by_local);
        let s = ServerSide::read(origin, server, &mut connections, &clients.drawn())?;
        let mut d = Self {
            mode: info.mode,
            info,
            scenario,
            connections,
            messages: s.messages,
            stopped: s.stopped,
            end_ms: s.end_ms,
            errors: s.errors,
            sent: clients.sent,
            sends: clients.sends,
            connects: clients.connects,
            worker_errors: clients.worker_errors,
        };
        d.correct_clocks();
        Ok(d)
    }

    /// Puts the figures that compare two hosts' wall clocks on the server's clock: each
    /// message's one-way latency (server receive − client timestamp) gains the client host's
    /// offset θ (client clock − server clock), each connect instant loses it. Nothing
    /// changes for runs on one host (no `hosts` in `run.json`).
    fn correct_clocks(&mut self) {
        let Some(hosts) = &self.info.hosts else {
            return;
        };
        let theta: Vec<f64> = self
            .scenario
            .clients
            .iter()
            .map(|g| hosts.offset_of(&g.label).map_or(0.0, |o| o.offset_ms))
            .collect();
        let of = |g: Option<usize>| g.and_then(|g| theta.get(g)).copied().unwrap_or(0.0);
        for m in &mut self.messages {
            let t = of(m.group);
            if let Some(l) = &mut m.latency_ms {
                *l += t;
            }
        }
        for c in &mut self.connects {
            c.connect_unix_ms -= of(c.group);
        }
    }

    /// The label of group `g`, or [`UNMATCHED`].
    pub fn label(&self, g: Option<usize>) -> &str {
        g.and_then(|g| self.scenario.clients.get(g))
            .map_or(UNMATCHED, |c| c.label.as_str())
    }

    /// Connection gaps in accept order; only those ending at `group`'s accepts if given.
    pub fn connection_gaps(&self, group: Option<usize>) -> Vec<f64> {
        self.connections
            .iter()
            .filter(|c| group.is_none() || c.group == group)
            .filter_map(|c| c.gap_ms)
            .collect()
    }

    /// Data gaps; only `group`'s if given.
    pub fn data_gaps(&self, group: Option<usize>) -> Vec<f64> {
        self.messages
            .iter()
            .filter(|m| group.is_none() || m.group == group)
            .map(|m| m.gap_ms)
            .collect()
    }

    /// Data gaps on the kernel's receive clock; only `group`'s if given. Empty when the run
    /// has no kernel timestamps.
    pub fn kernel_data_gaps(&self, group: Option<usize>) -> Vec<f64> {
        self.message_values(group, |m| m.kernel_gap_ms)
    }

    /// The delay the server added to each message: its read instant minus the kernel's
    /// arrival instant; only `group`'s if given. Empty when the run has no kernel timestamps.
    pub fn server_delays(&self, group: Option<usize>) -> Vec<f64> {
        self.message_values(group, |m| m.server_delay_ms)
    }

    /// `value` of every message of `group` (all groups if `None`) that has one.
    fn message_values(
        &self,
        group: Option<usize>,
        value: impl Fn(&Message) -> Option<f64>,
    ) -> Vec<f64> {
        self.messages
            .iter()
            .filter(|m| group.is_none() || m.group == group)
            .filter_map(value)
            .collect()
    }

    /// The `connect` call of the client worker that opened `c`, if it was matched to one.
    pub fn connect_of(&self, c: &Connection) -> Option<&Connect> {
        let (g, w) = (c.group?, c.worker?);
        self.connects
            .iter()
            .find(|k| k.group == Some(g) && k.worker == w)
    }

    /// True when the server's messages carry kernel receive timestamps.
    pub fn has_kernel_times(&self) -> bool {
        self.messages.iter().any(|m| m.server_delay_ms.is_some())
    }

    /// Per connection matched to a client worker, the wait from the worker's `connect` call
    /// to the server's accept (wall clocks of one host, ms); only `group`'s if given.
    pub fn connect_waits(&self, group: Option<usize>) -> Vec<f64> {
        self.connections
            .iter()
            .filter(|c| group.is_none() || c.group == group)
            .filter_map(|c| Some(c.accept_unix_ms - self.connect_of(c)?.connect_unix_ms))
            .collect()
    }

    /// Each connection's service time, accept to close (up to the server's stop if it never
    /// closed); only `group`'s if given.
    pub fn service_times(&self, group: Option<usize>) -> Vec<f64> {
        self.connections
            .iter()
            .filter(|c| group.is_none() || c.group == group)
            .map(|c| c.lifetime_ms(self.end_ms))
            .collect()
    }

    /// The server's data gaps of the messages no client group claims.
    pub fn unmatched_data_gaps(&self) -> Vec<f64> {
        self.messages
            .iter()
            .filter(|m| m.group.is_none())
            .map(|m| m.gap_ms)
            .collect()
    }

    /// The server's connection gaps ending at accepts no client group claims.
    pub fn unmatched_connection_gaps(&self) -> Vec<f64> {
        self.connections
            .iter()
            .filter(|c| c.group.is_none())
            .filter_map(|c| c.gap_ms)
            .collect()
    }

    /// True when some connection was not matched to a client worker.
    pub fn has_unmatched(&self) -> bool {
        self.connections.iter().any(|c| c.group.is_none())
    }

    /// The client's sends of `group` (all groups if `None`).
    fn sends_of(&self, group: Option<usize>) -> impl Iterator<Item = &Send> {
        self.sends
            .iter()
            .filter(move |s| group.is_none() || s.group == group)
    }

    /// The intervals the clients drew, by worker and seq; only `group`'s if given.
    pub fn drawn_intervals(&self, group: Option<usize>) -> Vec<f64> {
        self.sends_of(group).map(|s| s.interval_ms).collect()
    }

    /// Actual minus scheduled send time of every send; only `group`'s if given.
    pub fn lateness(&self, group: Option<usize>) -> Vec<f64> {
        self.sends_of(group).map(|s| s.lateness_ms).collect()
    }

    /// The clients' actual send gaps (see [`send_gaps`]), by worker and seq; only
    /// `group`'s if given.
    pub fn send_gaps(&self, group: Option<usize>) -> Vec<f64> {
        let mine: Vec<Send> = self.sends_of(group).copied().collect();
        mine.chunk_by(|a, b| (a.group, a.worker) == (b.group, b.worker))
            .flat_map(|w| send_gaps(w).into_iter().map(|(_, g)| g))
            .collect()
    }

    /// What the path and the server added to each send gap: data gap − send gap, per
    /// received message that has both; only `group`'s if given.
    pub fn added_ms(&self, group: Option<usize>) -> Vec<f64> {
        self.messages
            .iter()
            .filter(|m| group.is_none() || m.group == group)
            .filter_map(|m| Some(m.gap_ms - m.send_gap_ms?))
            .collect()
    }

    /// The first and the last of the clients' connect instants (wall clock, ms); `None`
    /// without connects.
    pub fn connect_span(&self) -> Option<(f64, f64)> {
        let instants = self.connects.iter().map(|c| c.connect_unix_ms);
        Some((
            instants.clone().reduce(f64::min)?,
            instants.reduce(f64::max)?,
        ))
    }

    /// Gaps between the clients' connect instants, sorted in time: `group`'s own connection
    /// process if given, or every group's instants pooled (what the server's accepts see).
    pub fn connect_gaps(&self, group: Option<usize>) -> Vec<f64> {
        let instants: Vec<f64> = self
            .connects
            .iter()
            .filter(|c| group.is_none() || c.group == group)
            .map(|c| c.connect_unix_ms)
            .collect();
        gaps_between(&instants)
    }

    /// The largest number of connections open at the same instant.
    pub fn max_concurrent(&self) -> usize {
        let mut edges: Vec<(f64, i32)> = Vec::new();
        for c in &self.connections {
            edges.push((c.accept_ms, 1));
            edges.push((c.close_ms.unwrap_or(self.end_ms), -1));
        }
        // At equal times a close comes before an accept: back to back is not overlap.
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut open, mut max) = (0i32, 0i32);
        for (_, d) in edges {
            open += d;
            max = max.max(open);
        }
        max.max(0) as usize
    }

    /// Mean one-way latency (server receive minus client timestamp) of `group`'s messages.
    pub fn mean_latency_ms(&self, group: Option<usize>) -> Option<f64> {
        arrivals::stats::mean(&self.message_values(group, |m| m.latency_ms))
    }

    /// Mean interval the clients drew for `group`'s received messages.
    pub fn mean_drawn_ms(&self, group: Option<usize>) -> Option<f64> {
        arrivals::stats::mean(&self.message_values(group, |m| m.interval_ms))
    }
}

/// What the client drew for a message, how late it sent it, and its send gap.
type Drawn = (f64, f64, Option<f64>);

/// The client side of a run: which worker owns which local address, when it connected,
/// what it drew and sent, and which workers failed.
#[derive(Debug)]
struct ClientSide<'a> {
    /// Per local address, every worker that connected from it: the kernel reuses a closed
    /// connection's port (loopback, `tcp_tw_reuse`), so one address can name several.
    by_local: BTreeMap<&'a str, Vec<Owner>>,
    /// By group, worker and seq.
    sends: Vec<Send>,
    /// By group and worker.
    connects: Vec<Connect>,
    /// Per group.
    sent: Vec<u64>,
    worker_errors: Vec<WorkerError>,
}

impl<'a> ClientSide<'a> {
    fn read(scenario: &Scenario, client: &'a [(String, Record<ClientEvent>)]) -> Self {
        let mut side = Self {
            by_local: BTreeMap::new(),
            sends: Vec::new(),
            connects: Vec::new(),
            sent: vec![0; scenario.clients.len()],
            worker_errors: Vec::new(),
        };
        for (label, rec) in client {
            let group = scenario.clients.iter().position(|g| g.label == *label);
            side.add(group, &rec.event);
        }
        side.sends.sort_by_key(|s| (s.group, s.worker, s.seq));
        side.connects.sort_by_key(|c| (c.group, c.worker));
        side
    }

    fn add(&mut self, group: Option<usize>, event: &'a ClientEvent) {
        match event {
            ClientEvent::WorkerConnected {
                worker,
                local,
                connect_unix_ms,
                ..
            } => {
                self.by_local
                    .entry(local.as_str())
                    .or_default()
                    .push(Owner {
                        group,
                        worker: *worker,
                        connect_unix_ms: *connect_unix_ms,
                    });
                self.connects.push(Connect {
                    group,
                    worker: *worker,
                    connect_unix_ms: *connect_unix_ms,
                });
            }
            ClientEvent::MessageSent {
                worker,
                seq,
                interval_ms,
                scheduled_ms,
                actual_ms,
                lateness_ms,
                ..
            } => {
                self.sends.push(Send {
                    group,
                    worker: *worker,
                    seq: *seq,
                    interval_ms: *interval_ms,
                    scheduled_ms: *scheduled_ms,
                    actual_ms: *actual_ms,
                    lateness_ms: *lateness_ms,
                });
                if let Some(g) = group {
                    self.sent[g] += 1;
                }
            }
            ClientEvent::WorkerError { worker, error, .. } => {
                self.worker_errors.push(WorkerError {
                    group,
                    worker: *worker,
                    error: error.clone(),
                });
            }
            _ => {}
        }
    }

    /// What the client drew, how late it sent, and its send gap, per (group, worker, seq).
    fn drawn(&self) -> BTreeMap<SendKey, Drawn> {
        let mut drawn = BTreeMap::new();
        for worker in self
            .sends
            .chunk_by(|a, b| (a.group, a.worker) == (b.group, b.worker))
        {
            let gaps: BTreeMap<u32, f64> = send_gaps(worker).into_iter().collect();
            for s in worker {
                drawn.insert(
                    (s.group, s.worker, s.seq),
                    (s.interval_ms, s.lateness_ms, gaps.get(&s.seq).copied()),
                );
            }
        }
        drawn
    }
}

/// The earliest accept, the origin of a run's times. The log's lines need not be in time
/// order (concurrent modes write them from several threads or processes).
fn first_accept_ms(server: &[Record<ServerEvent>]) -> f64 {
    server
        .iter()
        .filter(|r| matches!(r.event, ServerEvent::ConnectionAccepted { .. }))
        .map(|r| r.t_ms)
        .reduce(f64::min)
        .unwrap_or(0.0)
}

/// A client worker that connected from a local address, and when it called `connect`.
#[derive(Clone, Copy, Debug)]
struct Owner {
    group: Option<usize>,
    worker: u32,
    connect_unix_ms: f64,
}

/// Who opened the connection the server accepted from `peer` at `accept_unix_ms`: of the
/// workers that connected from that address, the last to call `connect` before the accept
/// (the clocks are one host's; 1 ms of slack for the order of the two clock readings).
fn owner(owners: &[Owner], accept_unix_ms: f64) -> Option<&Owner> {
    owners
        .iter()
        .filter(|o| o.connect_unix_ms <= accept_unix_ms + 1.0)
        .max_by(|a, b| a.connect_unix_ms.total_cmp(&b.connect_unix_ms))
        .or_else(|| owners.first())
}

/// The accepted connections in id (accept) order, joined to the client workers by
/// address and time; closes and message counts are filled in by [`ServerSide::read`].
fn accepted(
    server: &[Record<ServerEvent>],
    by_local: &BTreeMap<&str, Vec<Owner>>,
) -> Vec<Connection> {
    let origin_ms = first_accept_ms(server);
    let mut connections: Vec<Connection> = server
        .iter()
        .filter_map(|rec| {
            let ServerEvent::ConnectionAccepted {
                conn,
                peer,
                pid,
                tid,
                gap_ms,
            } = &rec.event
            else {
                return None;
            };
            let (group, worker) = by_local
                .get(peer.as_str())
                .and_then(|owners| owner(owners, rec.unix_ms))
                .map_or((None, None), |o| (o.group, Some(o.worker)));
            Some(Connection {
                conn: *conn,
                group,
                worker,
                peer: peer.clone(),
                pid: *pid,
                tid: *tid,
                accept_ms: rec.t_ms - origin_ms,
                accept_unix_ms: rec.unix_ms,
                close_ms: None,
                gap_ms: *gap_ms,
                messages: 0,
                close_reason: None,
            })
        })
        .collect();
    // Connection ids count accepts in order.
    connections.sort_by_key(|c| c.conn);
    connections
}

/// The rest of the server's log: messages, closes, errors and the final report.
#[derive(Debug, Default)]
struct ServerSide {
    messages: Vec<Message>,
    stopped: Option<Stopped>,
    errors: Vec<(u64, String)>,
    end_ms: f64,
}

impl ServerSide {
    /// Reads the server's events after the accepts, closing `connections` as it goes.
    fn read(
        origin: &Path,
        server: &[Record<ServerEvent>],
        connections: &mut [Connection],
        drawn: &BTreeMap<SendKey, Drawn>,
    ) -> Result<Self, DatasetError> {
        let origin_ms = first_accept_ms(server);
        let index: BTreeMap<u64, usize> = connections
            .iter()
            .enumerate()
            .map(|(i, c)| (c.conn, i))
            .collect();
        let mut side = Self::default();
        for rec in server {
            let t = rec.t_ms - origin_ms;
            side.end_ms = side.end_ms.max(t);
            match &rec.event {
                ServerEvent::MessageReceived {
                    conn,
                    seq,
                    bytes,
                    gap_ms,
                    worker,
                    worker_event,
                    latency_ms,
                    kernel_gap_ms,
                    server_delay_ms,
                    kernel_unix_ms,
                    ..
                } => {
                    let c = index
                        .get(conn)
                        .and_then(|&i| connections.get(i))
                        .ok_or_else(|| DatasetError::UnknownConnection {
                            path: origin.join("server-events.jsonl").display().to_string(),
                            conn: *conn,
                        })?;
                    let worker = c.worker.or(*worker);
                    let event = *worker_event;
                    let key = (c.group, worker.unwrap_or(0), event.unwrap_or(0));
                    let (interval_ms, lateness_ms, send_gap_ms) = drawn
                        .get(&key)
                        .map_or((None, None, None), |(i, l, g)| (Some(*i), Some(*l), *g));
                    side.messages.push(Message {
                        conn: *conn,
                        group: c.group,
                        worker,
                        seq: *seq,
                        event,
                        recv_ms: t,
                        gap_ms: *gap_ms,
                        latency_ms: *latency_ms,
                        kernel_gap_ms: *kernel_gap_ms,
                        server_delay_ms: *server_delay_ms,
                        kernel_unix_ms: *kernel_unix_ms,
                        bytes: *bytes,
                        interval_ms,
                        lateness_ms,
                        send_gap_ms,
                    });
                }
                ServerEvent::ConnectionClosed {
                    conn,
                    messages,
                    reason,
                } => {
                    if let Some(c) = index.get(conn).and_then(|&i| connections.get_mut(i)) {
                        c.close_ms = Some(t);
                        c.messages = *messages;
                        c.close_reason = Some(*reason);
                    }
                }
                ServerEvent::ConnectionError { conn, error } => {
                    side.errors.push((*conn, error.clone()));
                }
                ServerEvent::ServerStopped {
                    connections,
                    messages,
                    connection_gaps,
                    avg_connection_gap_ms,
                    data_gaps,
                    avg_data_gap_ms,
                } => {
                    side.stopped = Some(Stopped {
                        connections: *connections,
                        messages: *messages,
                        connection_gaps: *connection_gaps,
                        avg_connection_gap_ms: *avg_connection_gap_ms,
                        data_gaps: *data_gaps,
                        avg_data_gap_ms: *avg_data_gap_ms,
                    });
                }
                ServerEvent::ConnectionAccepted { .. } | ServerEvent::ServerStarted { .. } => {}
            }
        }
        // A connection still open at the stop has no close event: count its messages here.
        for c in connections.iter_mut() {
            if c.close_reason.is_none() {
                c.messages = side.messages.iter().filter(|m| m.conn == c.conn).count() as u64;
            }
        }
        side.messages.sort_by_key(|m| (m.conn, m.seq));
        Ok(side)
    }
}

/// The snake_case name of a close reason, as in the event log.
pub fn close_reason_str(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::PeerClosed => "peer_closed",
        CloseReason::ServerShutdown => "server_shutdown",
        CloseReason::Error => "error",
    }
}

/// A small recorded run built in memory, for the formatters' tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::runinfo::{Binaries, Binary, ClientRun};

    pub const SCENARIO: &str = r#"description = "two groups, served one after another"
seed = 42
[server]
mode = "iter"
[[clients]]
label = "fixed"
workers = 2
intervals = 2
dist = "d"
param = 0.1
[[clients]]
label = "uni"
workers = 1
intervals = 1
dist = "u"
param = 0.2
"#;

    fn rec<E>(t_ms: f64, event: E) -> Record<E> {
        Record {
            t_ms,
            unix_ms: 1_000_000.0 + t_ms,
            event,
        }
    }

    fn msg(t: f64, conn: u64, seq: u64, gap_ms: f64, worker: u32) -> Record<ServerEvent> {
        rec(
            t,
            ServerEvent::MessageReceived {
                conn,
                seq,
                bytes: 42,
                text: format!("Worker {worker}, Event {seq}, Timestamp 1"),
                lossy: false,
                gap_ms,
                worker: Some(worker),
                worker_event: Some(seq as u32),
                sent_unix_ms: Some(1),
                latency_ms: Some(0.5),
                kernel_unix_ms: Some(1_000_000.0 + t - 0.02),
                kernel_gap_ms: (seq > 1).then_some(gap_ms),
                server_delay_ms: Some(0.02),
            },
        )
    }

    fn accepted(t: f64, conn: u64, port: u16, gap_ms: Option<f64>) -> Record<ServerEvent> {
        rec(
            t,
            ServerEvent::ConnectionAccepted {
                conn,
                peer: format!("127.0.0.1:{port}"),
                pid: 7,
                tid: 8,
                gap_ms,
            },
        )
    }

    fn closed(t: f64, conn: u64, messages: u64) -> Record<ServerEvent> {
        rec(
            t,
            ServerEvent::ConnectionClosed {
                conn,
                messages,
                reason: CloseReason::PeerClosed,
            },
        )
    }

    pub type Records = (
        RunInfo,
        Vec<Record<ServerEvent>>,
        Vec<(String, Record<ClientEvent>)>,
    );

    /// Three connections served one after another: fixed w1, fixed w2, uni w1.
    pub fn iterative() -> Dataset {
        let (info, server, client) = records();
        Dataset::new(Path::new("results/fixture"), info, &server, &client).expect("valid fixture")
    }

    /// The logs behind [`iterative`].
    pub fn records() -> Records {
        let server = vec![
            accepted(10.0, 1, 5001, None),
            msg(110.0, 1, 1, 100.0, 1),
            msg(210.0, 1, 2, 100.0, 1),
            closed(211.0, 1, 2),
            accepted(211.5, 2, 5002, Some(201.5)),
            msg(311.5, 2, 1, 100.0, 2),
            msg(411.5, 2, 2, 100.0, 2),
            closed(412.0, 2, 2),
            accepted(412.5, 3, 6001, Some(201.0)),
            msg(462.5, 3, 1, 50.0, 1),
            closed(463.0, 3, 1),
            rec(
                800.0,
                ServerEvent::ServerStopped {
                    connections: 3,
                    messages: 5,
                    connection_gaps: 2,
                    avg_connection_gap_ms: Some(201.25),
                    data_gaps: 5,
                    avg_data_gap_ms: Some(90.0),
                },
            ),
        ];
        let connected = |label: &str, worker: u32, port: u16, at: f64| {
            (
                label.to_owned(),
                rec(
                    0.0,
                    ClientEvent::WorkerConnected {
                        worker,
                        local: format!("127.0.0.1:{port}"),
                        peer: "127.0.0.1:9".into(),
                        connect_unix_ms: 1_000_000.0 + at,
                        connect_ms: 0.1,
                    },
                ),
            )
        };
        // Worker schedules start at `start` (client clock); each send is 0.25 ms late.
        let sent = |label: &str, worker: u32, seq: u32, interval_ms: f64, scheduled_ms: f64| {
            (
                label.to_owned(),
                rec(
                    scheduled_ms + 0.25,
                    ClientEvent::MessageSent {
                        worker,
                        seq,
                        interval_ms,
                        scheduled_ms,
                        actual_ms: scheduled_ms + 0.25,
                        lateness_ms: 0.25,
                        sent_unix_ms: 1,
                    },
                ),
            )
        };
        // All three workers connect within 0.5 ms; the iterative server accepts them 201 ms
        // apart.
        let client = vec![
            connected("fixed", 1, 5001, 9.0),
            connected("fixed", 2, 5002, 9.2),
            connected("uni", 1, 6001, 9.5),
            sent("fixed", 1, 1, 100.0, 110.0),
            sent("fixed", 1, 2, 100.0, 210.0),
            sent("fixed", 2, 2, 100.0, 411.0),
            sent("fixed", 2, 1, 100.0, 311.0),
            sent("uni", 1, 1, 49.5, 462.0),
        ];
        let info = RunInfo {
            scenario: "fixture".into(),
            scenario_file: "experiments/fixture.toml".into(),
            scenario_text: SCENARIO.into(),
            seed: 42,
            mode: Mode::Iter,
            sweep: false,
            run: 1,
            step: None,
            date: "2026-01-19T11:47:38Z".into(),
            git_commit: "0123456789abcdef".into(),
            git_dirty: false,
            rustc: "rustc 1.85.0".into(),
            host_cores: 2,
            binaries: Binaries {
                orchestrator: Binary::Path("o".into()),
                server: Binary::Path("s".into()),
                client: Binary::Path("c".into()),
            },
            server_args: vec![],
            server: None,
            server_port: 9,
            clients: vec![ClientRun {
                label: "fixed".into(),
                seed: 5,
                args: vec![],
                client: None,
                launched_ms: 0.0,
                exited_ms: 500.0,
            }],
            duration_ms: 900.0,
            server_printed: vec![
                "Average connection inter-arrival time: 201.25 ms (n = 2)".into(),
                "Average data inter-arrival time: 90.00 ms (n = 5)".into(),
            ],
            open_file_limit: None,
            failed: None,
            hosts: None,
        };
        (info, server, client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_local_port_is_matched_to_the_worker_that_connected_last_before_the_accept() {
        let owners = [
            Owner {
                group: Some(0),
                worker: 3,
                connect_unix_ms: 1_000.0,
            },
            Owner {
                group: Some(0),
                worker: 9,
                connect_unix_ms: 5_000.0,
            },
        ];
        assert_eq!(owner(&owners, 1_010.0).map(|o| o.worker), Some(3));
        assert_eq!(owner(&owners, 5_020.0).map(|o| o.worker), Some(9));
        // A reading of the accept clock just before the connect clock's: still the later.
        assert_eq!(owner(&owners, 4_999.5).map(|o| o.worker), Some(9));
        assert_eq!(owner(&owners, 10.0).map(|o| o.worker), Some(3));
    }

    #[test]
    fn connections_join_the_client_worker_by_address() {
        let d = fixtures::iterative();
        let who: Vec<(&str, Option<u32>)> = d
            .connections
            .iter()
            .map(|c| (d.label(c.group), c.worker))
            .collect();
        assert_eq!(
            who,
            [("fixed", Some(1)), ("fixed", Some(2)), ("uni", Some(1))]
        );
        assert_eq!(
            d.connections[1].accept_ms, 201.5,
            "times count from the first accept"
        );
        assert_eq!(d.end_ms, 790.0);
        let drawn: Vec<Option<f64>> = d.messages.iter().map(|m| m.interval_ms).collect();
        assert_eq!(drawn[4], Some(49.5));
    }

    #[test]
    fn log_lines_out_of_time_order_give_the_same_data() {
        let (info, mut server, client) = fixtures::records();
        let last = server.remove(8);
        server.insert(0, last);
        let d = Dataset::new(Path::new("x"), info, &server, &client).expect("valid");
        let want = fixtures::iterative();
        assert_eq!(d.connections, want.connections);
        assert_eq!(d.messages, want.messages);
        assert_eq!(d.connections[0].accept_ms, 0.0);
    }

    #[test]
    fn serialised_connections_never_overlap() {
        let d = fixtures::iterative();
        assert_eq!(d.max_concurrent(), 1);
        assert_eq!(d.connection_gaps(None), [201.5, 201.0]);
        assert_eq!(d.connection_gaps(Some(1)), [201.0]);
        assert_eq!(d.data_gaps(Some(0)).len(), 4);
        assert_eq!(d.mean_latency_ms(None), Some(0.5));
    }

    #[test]
    fn send_gaps_start_at_the_schedule_start_and_skip_missing_predecessors() {
        let send = |seq, interval_ms, scheduled_ms, actual_ms| Send {
            group: Some(0),
            worker: 1,
            seq,
            interval_ms,
            scheduled_ms,
            actual_ms,
            lateness_ms: actual_ms - scheduled_ms,
        };
        // Schedule start 50: deadlines 80, 100, 160; sends 0.5, 3 and 0.25 ms late.
        let sends = [
            send(3, 60.0, 160.0, 160.25),
            send(1, 30.0, 80.0, 80.5),
            send(2, 20.0, 100.0, 103.0),
        ];
        assert_eq!(send_gaps(&sends), [(1, 30.5), (2, 22.5), (3, 57.25)]);
        // Without event 2, event 3 has no predecessor to measure from.
        assert_eq!(
            send_gaps(&[sends[0], sends[1]]),
            [(1, 30.5)],
            "a gap needs the send before it"
        );
        assert!(send_gaps(&[]).is_empty());
    }

    #[test]
    fn client_side_gaps_come_from_the_client_log() {
        let d = fixtures::iterative();
        assert_eq!(d.sends.len(), 5);
        assert_eq!(
            (d.sends[2].worker, d.sends[2].seq),
            (2, 1),
            "sorted by worker and seq"
        );
        assert_eq!(d.drawn_intervals(Some(0)), [100.0; 4]);
        // The first gap of a worker runs from its schedule start (deadline 1 − interval 1),
        // so it carries that send's lateness.
        assert_eq!(d.send_gaps(Some(0)), [100.25, 100.0, 100.25, 100.0]);
        assert_eq!(d.send_gaps(Some(1)), [49.75]);
        assert_eq!(d.lateness(None), [0.25; 5]);
        let connect = d.connect_gaps(None);
        assert_eq!(connect.len(), 2);
        assert!((connect[0] - 0.2).abs() < 1e-6 && (connect[1] - 0.3).abs() < 1e-6);
        assert!(d.connect_gaps(Some(1)).is_empty(), "one worker, no gap");
        assert_eq!(d.messages[4].send_gap_ms, Some(49.75));
        assert_eq!(d.added_ms(Some(1)), [0.25]);
    }

    #[test]
    fn gaps_between_sorts_first() {
        assert_eq!(gaps_between(&[5.0, 1.0, 3.0]), [2.0, 2.0]);
        assert!(gaps_between(&[1.0]).is_empty());
    }
}
