//! Forwarding benchmark of the SFU core: RTP packets per second per core that
//! subscribers actually receive, and the latency the SFU adds per packet, with
//! publishers sending at a realistic bitrate.
//!
//! ```text
//! cargo run --release -p cloudcord-sfu --example bench -- --rooms 10 --subscribers 4
//! ```
//!
//! Synthetic peers are real str0m WebRTC clients (`cloudcord_sfu::sim`): each room
//! has one publisher sending video and `--subscribers` listeners, all connected
//! through ICE-lite, DTLS and SRTP like browsers. Load grows with the number of
//! rooms, not by flooding: each publisher sends `--payload`-byte packets at
//! `--bitrate`, one every 1/rate seconds on a fixed schedule (publishers staggered
//! evenly), as an encoder paced by its own bandwidth estimate would — or, with
//! `--fps`, a frame's packets at once, as an encoder hands them over.
//!
//! Everything runs on one thread as a discrete-event simulation on a simulated
//! clock. The core (`Sfu`) is modelled as one server: each of its calls starts when
//! both its input has arrived and the core is free, and occupies the core for the
//! *real* time the call took (measured around the call). Its datagrams leave when the
//! call returns and reach their client at once. The clients' own work (encrypting,
//! decrypting, feedback) takes no simulated time: they are other machines. So the
//! core's queueing, its str0m pacers and its real cost per call all show in the
//! latency, while the benchmark's clients sharing the thread do not.
//!
//! Phases on the simulated clock: the clients join one after another over a second
//! and connect; `--warmup` seconds of publishing (the bandwidth estimates grow from
//! str0m's 300 kbit/s start), `--seconds` measured, then
//! `--drain` seconds without publishing so that the pacers empty before losses are
//! counted. Reported, for the measured window:
//!
//! * **throughput**: RTP packets the subscribers' clients received (first copies)
//!   per second of the core's own time;
//! * **core busy**: the core's time as a share of the window (the load);
//! * **latency added** per packet: from when it was due at the publisher to when
//!   its last copy reached a subscriber (p50 / p99 / max);
//! * **not received**: copies of packets due in the window that their subscriber
//!   had not received by the end of the drain (lost, or still queued in an
//!   overloaded core); latency counts only packets every subscriber received;
//! * **thread waiting for a CPU**: on a shared machine a preempted call counts as
//!   core time, so the share of the run the thread waited is printed with it.
//!
//! The report is one Markdown table row (with its header) and one JSON line.

#![allow(clippy::print_stdout)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_sfu::core::{Participant, Sfu};
use cloudcord_sfu::metrics::Metrics;
use cloudcord_sfu::sim::{ClientId, Network, Publish};
use hdrhistogram::Histogram;
use serde_json::json;
use str0m::media::MediaKind;
use str0m::net::Transmit;

/// Simulated time over which the clients join, one after another, as people do.
/// Joined at one instant, every peer's periodic work (reports, keep-alives,
/// estimator updates) fell due at the same instants: bursts that queued packets
/// for milliseconds every second, which no real server sees.
const JOINS: Duration = Duration::from_secs(1);

/// Simulated time for every client to connect before publishing starts.
const CONNECT: Duration = Duration::from_secs(3);

/// The last bytes of a payload carry the packet's index, to find its due time when
/// a subscriber receives it.
const INDEX_BYTES: usize = 8;

#[derive(Parser)]
struct Args {
    /// Rooms, each with one publisher.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Subscribers per room (at most 64).
    #[arg(long, default_value_t = 4)]
    subscribers: usize,
    /// Payload bytes per packet (a full video packet is about 1,100).
    #[arg(long, default_value_t = 1100)]
    payload: usize,
    /// Each publisher's video bitrate in kbit/s, counting payload bytes
    /// (2,500 kbit/s of 1,100-byte packets is about 284 packets/s).
    #[arg(long, default_value_t = 2500)]
    bitrate: u64,
    /// Simulated seconds of publishing before the measured window: str0m's
    /// bandwidth estimates start at 300 kbit/s and take several seconds (and
    /// probes) to settle.
    #[arg(long, default_value_t = 15.0)]
    warmup: f64,
    /// Simulated seconds measured.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Simulated seconds after publishing stops, for the pacers to drain.
    #[arg(long, default_value_t = 3.0)]
    drain: f64,
    /// Frames per second: each publisher sends its packets in bursts, a frame's
    /// worth (`bitrate` / `fps`, rounded to whole packets) at once, as a camera's
    /// encoder hands them over. 0 (the default) spaces them evenly instead, as a
    /// sender's own pacer would.
    #[arg(long, default_value_t = 0.0)]
    fps: f64,
}

/// When each publisher sends what: packet `k` (all publishers' packets in the
/// order they are due) belongs to burst `k / per_burst`; bursts take the
/// publishers in turn, `interval` apart for each publisher and staggered evenly
/// between them.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    per_burst: usize,
    interval: f64,
    publishers: usize,
}

impl Schedule {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "a frame's packets, from command-line rates: a small positive number"
    )]
    fn new(args: &Args, packets_per_second: f64) -> Self {
        let (per_burst, interval) = if args.fps > 0.0 {
            let per_frame = (packets_per_second / args.fps).round().max(1.0);
            (per_frame as usize, 1.0 / args.fps)
        } else {
            (1, 1.0 / packets_per_second)
        };
        Self {
            per_burst,
            interval,
            publishers: args.rooms,
        }
    }

    /// Packets per second of one publisher, as scheduled.
    fn packets_per_second(&self) -> f64 {
        self.per_burst as f64 / self.interval
    }

    /// When packet `k` is due, after publishing starts.
    fn offset(&self, k: usize) -> Duration {
        Duration::from_secs_f64(
            (k / self.per_burst) as f64 * self.interval / self.publishers as f64,
        )
    }

    /// The publisher (its index) that sends packet `k`.
    fn publisher(&self, k: usize) -> usize {
        (k / self.per_burst) % self.publishers
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.payload < 4 + INDEX_BYTES {
        return Err("--payload must be at least 12 bytes".into());
    }
    if args.subscribers == 0 || args.subscribers > 64 {
        return Err("--subscribers must be between 1 and 64".into());
    }
    let sfu_addr = SocketAddr::from(([192, 0, 2, 1], 3478));
    let mut net = Network::new(Sfu::new(sfu_addr, Metrics::default()));

    let mut now = Instant::now();
    let mut publishers = Vec::new();
    // Each subscriber's position in its room (its bit in `Packet::received`).
    let mut seats = HashMap::new();
    let mut user = 1u64;
    let stagger = JOINS.div_f64((args.rooms * (1 + args.subscribers)) as f64);
    for room in 0..args.rooms {
        let channel = ChannelId::new(1_000_000 + room as u64);
        publishers.push(net.join(now, participant(user, channel), Publish::CAMERA)?);
        net.run_for(&mut now, stagger)?;
        user += 1;
        for seat in 0..args.subscribers {
            let subscriber = net.join(now, participant(user, channel), Publish::NOTHING)?;
            net.run_for(&mut now, stagger)?;
            seats.insert(subscriber, seat);
            user += 1;
        }
    }
    net.run_for(&mut now, CONNECT)?;
    let connected = publishers
        .iter()
        .chain(seats.keys())
        .filter(|id| net.client(**id).is_some_and(|client| client.is_connected()))
        .count();
    if connected != publishers.len() + seats.len() {
        return Err(format!(
            "only {connected} of {} clients connected",
            publishers.len() + seats.len()
        )
        .into());
    }

    let schedule = Schedule::new(
        &args,
        args.bitrate as f64 * 1000.0 / (args.payload as f64 * 8.0),
    );
    // The machine may be shared: time the thread spent runnable but waiting for a
    // CPU is counted inside the core's calls too, so the report states it.
    let (waited_before, wall_before) = (cpu_wait(), Instant::now());
    let mut run = Run::new(net, &args, publishers, seats, now, schedule)?;
    run.run()?;
    let waiting = cpu_wait().zip(waited_before).map(|(after, before)| {
        after.saturating_sub(before).as_secs_f64() / wall_before.elapsed().as_secs_f64()
    });
    run.report(&args, schedule, waiting)
}

/// User `user` in `channel`, allowed to speak.
fn participant(user: u64, channel: ChannelId) -> Participant {
    Participant {
        user: UserId::new(user),
        // One guild is as good as many: the SFU only hands it back when a peer drops.
        guild: GuildId::new(1),
        channel,
        may_speak: true,
        may_stream: true,
    }
}

/// How long this thread has waited for a CPU while runnable (Linux's schedstat;
/// `None` elsewhere).
fn cpu_wait() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let waited = stat.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(waited))
}

/// Nanoseconds up to a minute, three significant digits (`saturating_record`
/// clamps at the minute).
fn nanos_histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3)
}

/// One published packet.
struct Packet {
    due: Instant,
    /// Bit `seat` set: that subscriber received it.
    received: u64,
    /// When its last copy so far was received.
    last: Instant,
}

/// The simulation's state; see the module docs.
struct Run {
    net: Network,
    addrs: HashMap<SocketAddr, ClientId>,
    publishers: Vec<ClientId>,
    seats: HashMap<ClientId, usize>,
    subscribers: usize,
    payload: Vec<u8>,

    /// When publishing starts, the measured window starts and ends, and the run ends.
    publish_start: Instant,
    window_start: Instant,
    window_end: Instant,
    end: Instant,
    /// When each publisher sends what.
    schedule: Schedule,
    /// Every packet published, by index (see [`Schedule`] for whose packet `k` is).
    packets: Vec<Packet>,

    /// Datagrams waiting for the core, with when they arrived.
    inbox: VecDeque<(Instant, SocketAddr, Vec<u8>)>,
    /// When the core is done with its current call.
    core_free: Instant,
    /// The core's datagrams on their way to clients, with when they arrive.
    deliveries: VecDeque<(Instant, Transmit)>,
    /// Clients' deadlines; an entry counts only if it is still `deadlines[client]`.
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    deadlines: HashMap<usize, Instant>,
    /// The clients' clock: the time of the last client event.
    client_clock: Instant,

    /// The measured window's core time, per-call core time, datagrams the core sent,
    /// packets subscribers received (first copies) and duplicates they received.
    busy: Duration,
    service: Histogram<u64>,
    datagrams_out: u64,
    received: u64,
    duplicates: u64,
}

/// What happens next on the clients' side.
enum ClientEvent {
    Publish,
    Deliver,
    Timer,
}

impl Run {
    fn new(
        net: Network,
        args: &Args,
        publishers: Vec<ClientId>,
        seats: HashMap<ClientId, usize>,
        now: Instant,
        schedule: Schedule,
    ) -> Result<Self, hdrhistogram::CreationError> {
        let service = nanos_histogram()?;
        let addrs = publishers
            .iter()
            .chain(seats.keys())
            .filter_map(|id| net.client(*id).map(|client| (client.addr, *id)))
            .collect();
        let publish_start = now;
        let window_start = publish_start + Duration::from_secs_f64(args.warmup);
        let window_end = window_start + Duration::from_secs_f64(args.seconds);
        Ok(Self {
            addrs,
            publishers,
            seats,
            subscribers: args.subscribers,
            // A VP8 descriptor and filler, as the benchmark has always sent.
            payload: vec![0x10u8; args.payload],
            publish_start,
            window_start,
            window_end,
            end: window_end + Duration::from_secs_f64(args.drain),
            schedule,
            packets: Vec::new(),
            inbox: VecDeque::new(),
            core_free: now,
            deliveries: VecDeque::new(),
            timers: BinaryHeap::new(),
            deadlines: HashMap::new(),
            client_clock: now,
            busy: Duration::ZERO,
            service,
            datagrams_out: 0,
            received: 0,
            duplicates: 0,
            net,
        })
    }

    /// When packet `index` is due at its publisher.
    fn due(&self, index: usize) -> Instant {
        self.publish_start + self.schedule.offset(index)
    }

    fn in_window(&self, at: Instant) -> bool {
        at >= self.window_start && at < self.window_end
    }

    /// Runs events in time order until the run's end.
    fn run(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        for id in self.addrs.values().copied().collect::<Vec<_>>() {
            self.schedule(id);
        }
        loop {
            let client = self.next_client_event();
            let core = self.next_core_call();
            match (client, core) {
                (Some((at, event)), core) if core.is_none_or(|(start, _)| at <= start) => {
                    if at > self.end {
                        return Ok(());
                    }
                    self.client_event(at, event)?;
                }
                (_, Some((start, timeout))) => {
                    if start > self.end {
                        return Ok(());
                    }
                    self.core_call(start, timeout);
                }
                _ => return Ok(()),
            }
        }
    }

    fn next_client_event(&self) -> Option<(Instant, ClientEvent)> {
        let due = self.due(self.packets.len());
        let publish = (due < self.window_end).then_some((due, ClientEvent::Publish));
        let deliver = self
            .deliveries
            .front()
            .map(|(at, _)| (*at, ClientEvent::Deliver));
        let timer = self
            .timers
            .peek()
            .map(|Reverse((at, _))| (*at, ClientEvent::Timer));
        [publish, deliver, timer]
            .into_iter()
            .flatten()
            .min_by_key(|(at, _)| *at)
    }

    /// When the core's next call starts, and whether it is a timeout (else the
    /// inbox's first datagram).
    fn next_core_call(&self) -> Option<(Instant, bool)> {
        let datagram = self.inbox.front().map(|(at, ..)| *at);
        let timeout = self.net.sfu.poll_timeout();
        let (at, is_timeout) = match (datagram, timeout) {
            (Some(datagram), Some(timeout)) if timeout < datagram => (timeout, true),
            (Some(datagram), _) => (datagram, false),
            (None, Some(timeout)) => (timeout, true),
            (None, None) => return None,
        };
        Some((at.max(self.core_free), is_timeout))
    }

    /// One call into the core at `start`, timed; its datagrams leave when it returns.
    fn core_call(&mut self, start: Instant, timeout: bool) {
        let input = if timeout {
            None
        } else {
            self.inbox.pop_front()
        };
        let began = Instant::now();
        match &input {
            Some((_, source, datagram)) => {
                // A refusal shows as loss; the metrics count it too.
                let _ = self.net.sfu.handle_datagram(start, *source, datagram);
                // As the driver does: a deadline passed while the datagram waited.
                if self.net.sfu.poll_timeout().is_some_and(|at| at <= start) {
                    self.net.sfu.handle_timeout(start);
                }
            }
            None => self.net.sfu.handle_timeout(start),
        }
        let mut out = Vec::new();
        while let Some(transmit) = self.net.sfu.poll_transmit() {
            out.push(transmit);
        }
        let spent = began.elapsed();
        self.core_free = start + spent;
        if self.in_window(start) {
            self.busy += spent;
            self.datagrams_out += out.len() as u64;
            let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
            // Saturates rather than fails on an out-of-range value.
            self.service.saturating_record(nanos);
        }
        let left = self.core_free;
        self.deliveries
            .extend(out.into_iter().map(|transmit| (left, transmit)));
    }

    fn client_event(
        &mut self,
        at: Instant,
        event: ClientEvent,
    ) -> Result<(), Box<dyn std::error::Error>> {
        // A client's deadline may lie in the past; its clock never goes back.
        let now = at.max(self.client_clock);
        self.client_clock = now;
        let id = match event {
            ClientEvent::Publish => {
                let index = self.packets.len();
                let id = self.publishers[self.schedule.publisher(index)];
                let start = self.payload.len() - INDEX_BYTES;
                self.payload[start..].copy_from_slice(&(index as u64).to_le_bytes());
                if let Some(client) = self.net.client_mut(id) {
                    client.send(now, MediaKind::Video, &self.payload)?;
                }
                self.packets.push(Packet {
                    due: at,
                    received: 0,
                    last: at,
                });
                id
            }
            ClientEvent::Deliver => {
                let Some((_, transmit)) = self.deliveries.pop_front() else {
                    return Ok(());
                };
                let Some(id) = self.addrs.get(&transmit.destination).copied() else {
                    return Ok(());
                };
                if let Some(client) = self.net.client_mut(id) {
                    client.receive(now, transmit.source, &transmit.contents)?;
                }
                self.count_received(id, now);
                id
            }
            ClientEvent::Timer => {
                let Some(Reverse((at, index))) = self.timers.pop() else {
                    return Ok(());
                };
                if self.deadlines.get(&index) != Some(&at) {
                    // Superseded by a later deadline.
                    return Ok(());
                }
                let id = ClientId(index);
                if let Some(client) = self.net.client_mut(id) {
                    client.handle_timeout(now)?;
                }
                self.deadlines.remove(&index);
                id
            }
        };
        if let Some(client) = self.net.client_mut(id) {
            let addr = client.addr;
            self.inbox
                .extend(client.take_outgoing().into_iter().map(|d| (now, addr, d)));
        }
        self.schedule(id);
        Ok(())
    }

    /// Takes note of client `id`'s deadline.
    fn schedule(&mut self, id: ClientId) {
        let Some(client) = self.net.client(id) else {
            return;
        };
        // A deadline that has already passed was just handled: str0m has nothing
        // more before a millisecond from now (as `Network::run_for` assumes).
        let mut at = client.next_timeout();
        if at <= self.client_clock {
            at = self.client_clock + Duration::from_millis(1);
        }
        if self.deadlines.get(&id.0) != Some(&at) {
            self.deadlines.insert(id.0, at);
            self.timers.push(Reverse((at, id.0)));
        }
    }

    /// Counts the benchmark's packets subscriber `id` has received, at `now`.
    fn count_received(&mut self, id: ClientId, now: Instant) {
        let Some(&seat) = self.seats.get(&id) else {
            return;
        };
        let Some(client) = self.net.client_mut(id) else {
            return;
        };
        let in_window = now >= self.window_start && now < self.window_end;
        for packet in client.received.drain(..) {
            let Some(index) = packet
                .payload
                .len()
                .checked_sub(INDEX_BYTES)
                .and_then(|start| packet.payload.get(start..))
                .and_then(|bytes| <[u8; INDEX_BYTES]>::try_from(bytes).ok())
                .map(u64::from_le_bytes)
            else {
                continue;
            };
            let Some(sent) = usize::try_from(index)
                .ok()
                .and_then(|index| self.packets.get_mut(index))
            else {
                continue;
            };
            if sent.received & (1u64 << seat) != 0 {
                self.duplicates += 1;
                continue;
            }
            sent.received |= 1u64 << seat;
            sent.last = sent.last.max(now);
            if in_window {
                self.received += 1;
            }
        }
    }

    fn report(
        &self,
        args: &Args,
        schedule: Schedule,
        waiting: Option<f64>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let window = self.window_end - self.window_start;
        let mut latency = nanos_histogram()?;
        let (mut sent, mut lost) = (0u64, 0u64);
        for packet in self.packets.iter().filter(|p| self.in_window(p.due)) {
            sent += 1;
            let copies = u64::from(packet.received.count_ones());
            lost += self.subscribers as u64 - copies;
            if copies == self.subscribers as u64 {
                let nanos = u64::try_from((packet.last - packet.due).as_nanos())?;
                latency.saturating_record(nanos);
            }
        }
        let per_core_second = self.received as f64 / self.busy.as_secs_f64();
        let busy_share = self.busy.as_secs_f64() / window.as_secs_f64();
        let ms = |nanos: u64| nanos as f64 / 1e6;
        let summary = json!({
            "rooms": args.rooms,
            "subscribers": args.subscribers,
            "payload_bytes": args.payload,
            "bitrate_kbit_s": args.bitrate,
            "packets_per_second_per_publisher": schedule.packets_per_second(),
            "frames_per_second": args.fps,
            "packets_per_burst": schedule.per_burst,
            "window_s": window.as_secs_f64(),
            "packets_sent": sent,
            "copies_expected": sent * self.subscribers as u64,
            "copies_received_in_window": self.received,
            "copies_not_received": lost,
            "packets_complete": latency.len(),
            "duplicates": self.duplicates,
            "datagrams_out": self.datagrams_out,
            "core_busy_s": self.busy.as_secs_f64(),
            "core_busy_share": busy_share,
            "received_per_core_second": per_core_second,
            "latency_p50_ms": ms(latency.value_at_quantile(0.50)),
            "latency_p99_ms": ms(latency.value_at_quantile(0.99)),
            "latency_max_ms": ms(latency.max()),
            "core_call_p50_ms": ms(self.service.value_at_quantile(0.50)),
            "core_call_p99_ms": ms(self.service.value_at_quantile(0.99)),
            "thread_waiting_for_cpu_share": waiting,
        });
        println!(
            "| rooms × (1 + N) | kbit/s per publisher | core busy | received packets/s per core | not received of expected | datagrams out | latency added p50 / p99 / max | core time per call p50 / p99 | thread waiting for a CPU |"
        );
        println!("|---|---:|---:|---:|---:|---:|---|---|---:|");
        println!(
            "| {} × (1 + {}) | {} ({:.0} packets/s{}) | {:.0}% | {:.0} | {} of {} | {} | {:.3} / {:.3} / {:.3} ms | {:.3} / {:.3} ms | {} |",
            args.rooms,
            args.subscribers,
            args.bitrate,
            schedule.packets_per_second(),
            if args.fps > 0.0 {
                format!(", frames of {}", schedule.per_burst)
            } else {
                String::new()
            },
            busy_share * 100.0,
            per_core_second,
            lost,
            sent * self.subscribers as u64,
            self.datagrams_out,
            ms(latency.value_at_quantile(0.50)),
            ms(latency.value_at_quantile(0.99)),
            ms(latency.max()),
            ms(self.service.value_at_quantile(0.50)),
            ms(self.service.value_at_quantile(0.99)),
            waiting.map_or("n/a".to_owned(), |share| format!("{:.0}%", share * 100.0)),
        );
        println!("{}", serde_json::to_string(&summary)?);
        Ok(())
    }
}
