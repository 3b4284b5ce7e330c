//! Forwarding benchmark of the SFU core: packets per second per core, and the latency
//! the SFU adds per packet at a given load.
//!
//! ```text
//! cargo run --release -p cloudcord-sfu --example bench -- --rooms 10 --subscribers 4
//! ```
//!
//! Synthetic peers are real str0m WebRTC clients (`cloudcord_sfu::sim`): each room
//! has one publisher sending video-sized packets and `--subscribers` listeners, all
//! connected through ICE-lite, DTLS and SRTP like browsers. The benchmark runs on one
//! thread (one core) in three phases:
//!
//! 1. **Check**: packets go end to end (publisher → SFU → every subscriber, which
//!    decrypts them) and none is lost.
//! 2. **Throughput**: publishers' SRTP datagrams, prepared beforehand, are fed to
//!    the core as fast as it takes them; only the time inside the core counts.
//! 3. **Latency**: the same at `--load` times the measured capacity, each datagram
//!    due at a fixed schedule; the latency of a packet runs from when it was due to
//!    when its last copy left the core, so queueing behind a busy core counts.
//!
//! The SFU's output in phases 2 and 3 is counted and dropped (the subscribers'
//! decryption would otherwise share the core being measured).

#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use cloudcord_schemas::ids::{ChannelId, GuildId, UserId};
use cloudcord_sfu::core::{Participant, Sfu};
use cloudcord_sfu::metrics::Metrics;
use cloudcord_sfu::sim::{ClientId, Network, Publish};
use hdrhistogram::Histogram;
use str0m::media::MediaKind;

/// How long the end-to-end check waits for its burst to arrive.
const CHECK_DRAIN: Duration = Duration::from_secs(5);

#[derive(Parser)]
struct Args {
    /// Rooms, each with one publisher.
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// Subscribers per room.
    #[arg(long, default_value_t = 4)]
    subscribers: usize,
    /// Payload bytes per packet (a full video packet is about 1,100).
    #[arg(long, default_value_t = 1100)]
    payload: usize,
    /// Packets each publisher sends per measured phase.
    #[arg(long, default_value_t = 3000)]
    packets: usize,
    /// The latency phase's load, as a fraction of the measured capacity.
    #[arg(long, default_value_t = 0.7)]
    load: f64,
}

struct Room {
    publisher: ClientId,
    subscribers: Vec<ClientId>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let metrics = Metrics::default();
    let sfu_addr = SocketAddr::from(([192, 0, 2, 1], 3478));
    let mut net = Network::new(Sfu::new(sfu_addr, metrics.clone()));
    let payload = vec![0x10u8; args.payload];

    // Everyone joins; the clock is the real one from here on.
    let mut rooms = Vec::new();
    let mut user = 1u64;
    for room in 0..args.rooms {
        let channel = ChannelId::new(1_000_000 + room as u64);
        let publisher = net.join(Instant::now(), participant(user, channel), Publish::BOTH)?;
        user += 1;
        let mut subscribers = Vec::new();
        for _ in 0..args.subscribers {
            subscribers.push(net.join(
                Instant::now(),
                participant(user, channel),
                Publish::NOTHING,
            )?);
            user += 1;
        }
        rooms.push(Room {
            publisher,
            subscribers,
        });
    }
    let settle = Instant::now() + Duration::from_secs(3);
    while Instant::now() < settle {
        net.step(Instant::now())?;
    }

    // Phase 1: end to end, nothing lost.
    let check: usize = 100;
    for _ in 0..check {
        for room in &rooms {
            if let Some(client) = net.client_mut(room.publisher) {
                client.send(Instant::now(), MediaKind::Video, &payload)?;
            }
        }
        net.step(Instant::now())?;
    }
    // The SFU paces what it sends to each subscriber's bandwidth estimate, so the
    // burst arrives over a while: wait for it (a bounded time) before counting.
    let lost_now = |net: &Network| -> usize {
        rooms
            .iter()
            .flat_map(|room| &room.subscribers)
            .map(|subscriber| {
                let received = net.client(*subscriber).map_or(0, |client| {
                    client
                        .received
                        .iter()
                        .filter(|packet| packet.payload.len() == payload.len())
                        .count()
                });
                check.saturating_sub(received)
            })
            .sum()
    };
    let drain = Instant::now() + CHECK_DRAIN;
    while lost_now(&net) > 0 && Instant::now() < drain {
        net.step(Instant::now())?;
    }
    let lost = lost_now(&net);
    println!(
        "check: {} rooms x (1 publisher + {} subscribers), {check} packets each end to end, {lost} lost",
        args.rooms, args.subscribers
    );

    // Phase 2: throughput.
    let input = prepare(&mut net, &rooms, &payload, args.packets)?;
    let before = metrics.forwarded_packets();
    let mut busy = Duration::ZERO;
    let mut transmits = 0u64;
    for (source, datagram) in &input {
        let start = Instant::now();
        transmits += feed(&mut net.sfu, start, *source, datagram);
        busy += start.elapsed();
    }
    let forwarded = metrics.forwarded_packets() - before;
    let expected = (args.packets * args.rooms * args.subscribers) as u64;
    let per_second = forwarded as f64 / busy.as_secs_f64();
    let input_rate = input.len() as f64 / busy.as_secs_f64();
    println!(
        "throughput: {forwarded} RTP packets forwarded (expected {expected}) from {} datagrams in {:.3} s of core time: {per_second:.0} forwarded packets/s per core ({transmits} datagrams out)",
        input.len(),
        busy.as_secs_f64()
    );

    // Phase 3: latency at the given load.
    let input = prepare(&mut net, &rooms, &payload, args.packets)?;
    let interval = Duration::from_secs_f64(1.0 / (input_rate * args.load));
    let mut latency = Histogram::<u64>::new(3)?;
    let mut service = Histogram::<u64>::new(3)?;
    let before = metrics.forwarded_packets();
    let mut busy = Duration::ZERO;
    // The thread's time off the CPU: a jump of over 1 ms between two clock reads of
    // the spin loop means the kernel ran something else (the machine is shared).
    let mut stalled = Duration::ZERO;
    let start = Instant::now() + Duration::from_millis(10);
    let mut last = Instant::now();
    for (index, (source, datagram)) in input.iter().enumerate() {
        let due = start + interval * u32::try_from(index)?;
        loop {
            let now = Instant::now();
            if now - last > Duration::from_millis(1) {
                stalled += now - last;
            }
            last = now;
            if now >= due {
                break;
            }
            std::hint::spin_loop();
        }
        let began = Instant::now();
        feed(&mut net.sfu, began, *source, datagram);
        let done = Instant::now();
        busy += done - began;
        last = done;
        service.record(u64::try_from((done - began).as_nanos())?)?;
        latency.record(u64::try_from((done - due).as_nanos())?)?;
    }
    let wall = start.elapsed();
    let forwarded = metrics.forwarded_packets() - before;
    let ms = |nanos: u64| nanos as f64 / 1e6;
    println!(
        "latency at {:.0}% of capacity ({:.0} datagrams/s in, core busy {:.0}% of {:.2} s, thread off the CPU {:.1} ms): {forwarded} forwarded (expected {expected}); added per packet p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; core time per datagram p50 {:.3} ms, p99 {:.3} ms",
        args.load * 100.0,
        1.0 / interval.as_secs_f64(),
        100.0 * busy.as_secs_f64() / wall.as_secs_f64(),
        wall.as_secs_f64(),
        stalled.as_secs_f64() * 1e3,
        ms(latency.value_at_quantile(0.50)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.max()),
        ms(service.value_at_quantile(0.50)),
        ms(service.value_at_quantile(0.99)),
    );
    Ok(())
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

/// A datagram and where it came from.
type Datagram = (SocketAddr, Vec<u8>);

/// Each publisher's next `packets` SRTP datagrams (and whatever RTCP comes with
/// them), interleaved across rooms as they would arrive.
fn prepare(
    net: &mut Network,
    rooms: &[Room],
    payload: &[u8],
    packets: usize,
) -> Result<Vec<Datagram>, Box<dyn std::error::Error>> {
    let mut input = Vec::with_capacity(packets * rooms.len());
    for _ in 0..packets {
        for room in rooms {
            if let Some(client) = net.client_mut(room.publisher) {
                client.send(Instant::now(), MediaKind::Video, payload)?;
                let addr = client.addr;
                input.extend(client.take_outgoing().into_iter().map(|d| (addr, d)));
            }
        }
    }
    Ok(input)
}

/// One datagram into the core, with any deadline that has passed; returns how many
/// datagrams came out (counted, then dropped).
fn feed(sfu: &mut Sfu, now: Instant, source: SocketAddr, datagram: &[u8]) -> u64 {
    // Every datagram here is valid; a refusal would show as a forwarding shortfall.
    let _ = sfu.handle_datagram(now, source, datagram);
    if sfu.poll_timeout().is_some_and(|at| at <= now) {
        sfu.handle_timeout(now);
    }
    let mut out = 0;
    while sfu.poll_transmit().is_some() {
        out += 1;
    }
    out
}
