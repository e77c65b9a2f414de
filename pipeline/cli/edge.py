"""`ravao station` and `ravao simulate`: what publishes scans at the edge."""

from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from schemas.ids import DEVICE, id_pattern
from schemas.registry import GateMode

from ..settings import get_settings

log = logging.getLogger(__name__)


def _stop_on_sigterm() -> None:
    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def station(
    device: str = typer.Option(..., "--device", help="The station's device id (from `ravao device add`)"),
    token: Optional[str] = typer.Option(None, help="Its token; default RAVAO_STATION_TOKEN (or RAVAO_STATION_TOKEN_FILE)"),
    gateway: Optional[str] = typer.Option(None, help="Gateway base URL; default RAVAO_STATION_GATEWAY_URL, "
                                          "else RAVAO_PUBLIC_URL"),
    mode: GateMode = typer.Option(GateMode.auto, help="entry gate, exit gate, or auto (the pipeline toggles)"),
    input_path: str = typer.Option("-", "--input", help="'-': lines on standard input (the reader types into "
                                   "this terminal); or a Linux input device, e.g. /dev/input/by-id/...-event-kbd"),
    output: str = typer.Option("text", help="text (for the guard) or json (one object per read, for programs)"),
    beep: bool = typer.Option(True, "--beep/--no-beep", help="Ring the terminal bell: once for OK, three times "
                              "for a refused code"),
    show_refused: bool = typer.Option(False, "--show-refused", help="List the scans the gateway refused for "
                                      "good, and exit"),
) -> None:
    """Run a reader station: read a keyboard-emulating USB QR reader (one code per line),
    check each code here (format, check symbol, and the signature when RAVAO_QR_KEYS is
    set), queue it on disk (RAVAO_DATA_DIR/station/DEVICE.sqlite) and send the queue to
    the gateway in batches. When the network is down it keeps reading and catches up
    later, in order, with the original scan times; a crash loses no confirmed scan.
    When the input ends it sends what is left and exits.

    Example: RAVAO_STATION_TOKEN=... ravao station --device DXXXXXXXXXXXXXX --mode entry
    """
    import re

    from producers.station.check import CodeChecker
    from producers.station.gateway_client import GatewayClient
    from producers.station.keyboard import device_lines
    from producers.station.outbox import Outbox
    from producers.station.sender import Sender
    from producers.station.station import Station

    from ..keys import load_codec

    settings = get_settings()
    if not re.match(id_pattern(DEVICE), device):
        raise typer.BadParameter(f"{device!r} is not a device id (D and 14 letters, from `ravao device add`)",
                                 param_hint="--device")
    if output not in ("text", "json"):
        raise typer.BadParameter("text or json", param_hint="--output")
    outbox = Outbox(settings.data_dir / "station" / f"{device}.sqlite")
    if show_refused:
        for event_id, reason, body in outbox.refused():
            typer.echo(f"{event_id} {reason} {body}")
        outbox.close()
        return
    token = token or settings.station_token
    if not token:
        raise typer.BadParameter("the station needs its token: --token, or RAVAO_STATION_TOKEN "
                                 "(or RAVAO_STATION_TOKEN_FILE)", param_hint="--token")
    url = gateway or settings.station_gateway_url or settings.public_url
    checker = CodeChecker(load_codec(settings) if settings.qr_keys else None)
    client = GatewayClient(url, device, token, timeout=settings.station_http_timeout_seconds)
    sender = Sender(outbox, client, batch_size=settings.station_batch_size,
                    batch_seconds=settings.station_batch_seconds, retry_max=settings.station_retry_max_seconds)
    station_ = Station(device_id=device, mode=mode, checker=checker, outbox=outbox, sender=sender,
                       out=sys.stdout, output=output, beep=beep)
    waiting = outbox.count()
    log.info("station %s (%s gate) sends to %s; signatures %s; %d scan(s) waiting from before",
             device, mode.value, url, "checked here" if checker.verifies_signatures else "checked by the pipeline",
             waiting)
    if input_path == "-":
        lines = (line.rstrip("\r\n") for line in sys.stdin)
    else:
        if not os.access(input_path, os.R_OK):
            raise typer.BadParameter(f"cannot read {input_path}: name the reader's input device "
                                     "(ls /dev/input/by-id/) and run as root or as a member of the 'input' group",
                                     param_hint="--input")
        lines = device_lines(Path(input_path))
    _stop_on_sigterm()
    try:
        station_.run(lines)
    except KeyboardInterrupt:
        pass
    finally:
        sender.stop()
        left = outbox.count()
        outbox.close()
        log.info("%d read, %d refused here, %d sent, %d refused by the gateway; %d still queued%s",
                 station_.accepted, station_.refused, sender.sent, sender.refused, left,
                 " (sent at the next start)" if left else "")


def simulate(
    people: int = typer.Option(1000, min=1, help="How many people live in the simulated communes"),
    seed: int = typer.Option(1, help="The same seed gives the same venues, people, devices and scans"),
    day: Optional[datetime] = typer.Option(None, formats=["%Y-%m-%d"], help="The day to simulate (local time, "
                                           "UTC+7); default: yesterday, so every scan is within the accepted lateness"),
    speed: float = typer.Option(0.0, min=0, help="Speed-up factor: 60 plays an hour a minute; 0: as fast as possible "
                                "(a scan is never sent before its own time)"),
    areas: str = typer.Option("binh-duong-2021", help="Area data: binh-duong-2021, vn-2025 or a nested-JSON file"),
    communes: Optional[int] = typer.Option(None, min=1, help="Place venues and people in this many communes "
                                           "(drawn by the seed); default: every commune"),
    truth: Optional[Path] = typer.Option(None, help="Write the ground truth (true stays and the visits the "
                                         "pairing rules must give) to this JSON Lines file"),
    via_gateway: Optional[str] = typer.Option(None, help="Send through the gateway at this URL instead of "
                                              "straight to Kafka"),
    registry_only: bool = typer.Option(False, "--registry-only", help="Register areas, venues, people and "
                                       "devices, send no scans"),
    envelopes: bool = typer.Option(True, "--envelopes/--single", help="Straight to Kafka: the scans of one "
                                   "partition in envelopes per batch (--single: one message per scan, as old "
                                   "producers send)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Publish nothing; only work out the day (and --truth)"),
) -> None:
    """Simulate a province's day of traffic: venues of every category in its communes
    (factories with shift changes, markets, hospitals, schools, offices, shops,
    restaurants), people with homes, workplaces and routines; forgotten exits, double
    scans, stations that go offline (their scans arrive late), phones with skewed clocks,
    a few forged codes. Registers its venues, people and devices first, then sends the
    scans to scans.raw (or through the gateway) and writes the ground truth.

    Example: ravao simulate --people 500 --seed 7 --speed 0 --truth truth.jsonl
    """
    from producers.simulator.clock import LOCAL
    from producers.simulator.sending import GatewayTarget, KafkaTarget, publish_registry, send_scans
    from producers.simulator.simulation import build_simulation
    from producers.simulator.truth import summarise, write_truth

    from ..kafka_io import ensure_topics
    from ..kafka_local import bootstrap_servers
    from ..keys import load_codec
    from ..topics import topics_for

    settings = get_settings()
    from producers.simulator.clock import yesterday

    the_day = day.date() if day else yesterday()
    sim = build_simulation(load_codec(settings), day=the_day, people=people, seed=seed, areas=areas,
                           communes=communes)
    world, traffic, visits = sim.world, sim.traffic, sim.visits
    summary = summarise(traffic, visits)
    if truth is not None:
        run = {"seed": seed, "day": the_day.isoformat(), "utc_offset": "+07:00", "people": people,
               "areas": areas, "communes": len(world.local), "venues": len(world.places),
               "devices": len(world.gates), "skewed_phones": sum(1 for r in world.residents if r.skew)}
        with truth.open("w", encoding="utf-8") as handle:
            write_truth(handle, run, traffic, visits, summary)
    typer.echo(f"{the_day}: {len(world.places)} venues in {len(world.local)} communes, {people} people, "
               f"{len(world.gates)} devices; {summary['scans']} scans ({summary['doubles']} double, "
               f"{summary['forged']} forged, {summary['late']} late from {summary['offline_stations']} offline "
               f"station(s)); {summary['visits']} visits expected {summary['visits_by_exit']}")
    if dry_run:
        return
    bootstrap = bootstrap_servers(settings)
    topics = topics_for(settings)
    ensure_topics(bootstrap, topics.all(), settings.topic_replication)
    published = publish_registry(bootstrap, topics, world, enrol_phones=via_gateway is not None)
    typer.echo(f"registered: {', '.join(f'{n} {name}' for name, n in published.items())}")
    if registry_only:
        return
    target = GatewayTarget(via_gateway, world) if via_gateway else KafkaTarget(
        bootstrap, topics.scans_raw.name, topics.scans_raw.partitions if envelopes else None)
    _stop_on_sigterm()
    started = datetime.now()
    step, reported = max(1, len(traffic.scans) // 10), [0]

    def progress(sent: int) -> None:
        if speed > 0 and sent - reported[0] >= step:
            reported[0] = sent
            local = traffic.scans[sent - 1].deliver_at.astimezone(LOCAL)
            typer.echo(f"  {sent} of {len(traffic.scans)} scans sent, the day played up to {local:%H:%M}")

    try:
        sent = send_scans(traffic.scans, target, speed, progress=progress)
    except KeyboardInterrupt:
        target.close()  # what was handed to the producer is delivered
        typer.echo("stopped; the scans sent so far stay sent")
        return
    seconds = (datetime.now() - started).total_seconds()
    refused = f" ({target.refused} refused by the gateway)" if via_gateway else ""
    typer.echo(f"sent {sent} scans to {via_gateway or topics.scans_raw.name} in {seconds:.1f}s{refused}")
