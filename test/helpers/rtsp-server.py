#!/usr/bin/python3
"""Local RTSP test source for mqttcast integration tests.

Runs GStreamer's RTSP server (python3-gi, GstRtspServer 1.0) bound to 127.0.0.1
only. Prints "READY <port>" on stdout once the server socket is bound. Exits on
SIGTERM/SIGINT/SIGHUP and when stdin reaches EOF (so it never outlives its parent).

Run with the system interpreter: /usr/bin/python3 rtsp-server.py --port 0 ...
"""
import argparse
import os
import random
import re
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

BIND_ADDRESS = "127.0.0.1"


def parse_args():
    p = argparse.ArgumentParser(description="mqttcast RTSP test source")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--path", default="/test")
    p.add_argument("--profile", choices=["baseline", "high"], default="baseline")
    p.add_argument("--audio", choices=["1", "0"], default="1")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--aac-encoder", default="")
    p.add_argument("--check", action="store_true",
                   help="print OK or MISSING <elements> for every pipeline this script can build, then exit")
    p.add_argument("--also-element", action="append", default=[],
                   help="also require this element (tests of the preflight and of the fail-fast path)")
    return p.parse_args()


AAC_ENCODERS = ["avenc_aac", "voaacenc", "fdkaacenc"]


def pick_aac_encoder(preferred):
    candidates = [preferred] if preferred else []
    candidates += AAC_ENCODERS
    for name in candidates:
        if name and Gst.ElementFactory.find(name) is not None:
            return name
    # Name the first choice: the preflight knows its package (gstreamer1.0-libav).
    return AAC_ENCODERS[0]


def launch_elements(launch):
    """Element names of a launch string (first word of each segment that is not caps)."""
    names = []
    for segment in re.split(r"[!()]", launch):
        words = segment.split()
        if words and "/" not in words[0] and "=" not in words[0]:
            names.append(words[0])
    return names


def missing_elements(launch, also=()):
    return [n for n in dict.fromkeys(launch_elements(launch) + list(also))
            if Gst.ElementFactory.find(n) is None]


def check(args):
    """--check: every element of every pipeline variant this script builds."""
    launches = []
    for profile in ("baseline", "high"):
        args.profile, args.audio = profile, "1"
        launches.append(build_launch(args))
    missing = []
    for launch in launches:
        missing += missing_elements(launch, args.also_element)
    missing = list(dict.fromkeys(missing))
    print("MISSING " + " ".join(missing) if missing else "OK", flush=True)
    sys.exit(0)


def build_launch(args):
    if args.profile == "high":
        # x264's profile is only an upper bound: ultrafast uses no High features and
        # would be signalled as Constrained Baseline. Enable CABAC + 8x8dct for High.
        x264 = ("x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} "
                "option-string=cabac=1:8x8dct=1")
    else:
        x264 = "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps}"
    video = (
        "videotestsrc is-live=true pattern=ball "
        "! video/x-raw,width={w},height={h},framerate={fps}/1 "
        "! timeoverlay "
        "! " + x264 + " "
        "! video/x-h264,profile={profile} "
        "! rtph264pay name=pay0 pt=96 config-interval=1"
    ).format(w=args.width, h=args.height, fps=args.fps, profile=args.profile)
    parts = [video]
    if args.audio == "1":
        enc = pick_aac_encoder(args.aac_encoder)
        parts.append(
            "audiotestsrc is-live=true wave=sine "
            "! audio/x-raw,rate=44100,channels=2 "
            "! audioconvert ! audioresample "
            "! {enc} "
            "! rtpmp4gpay name=pay1 pt=97".format(enc=enc)
        )
    return "( " + " ".join(parts) + " )"


def main():
    args = parse_args()
    Gst.init(None)
    if args.check:
        check(args)
    launch = build_launch(args)
    missing = missing_elements(launch, args.also_element)
    if missing:
        # Fail at once with the names, not later as an RTSP "5XX" to the client.
        print("ERROR missing GStreamer elements: " + " ".join(missing)
              + " (run: node test/preflight.mjs)", flush=True)
        sys.exit(1)
    loop = GLib.MainLoop()

    server = GstRtspServer.RTSPServer()
    server.set_address(BIND_ADDRESS)
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)

    # Keep UDP (RTP/RTCP) sockets on loopback too: without a unicast pool the
    # server binds its UDP sockets to the wildcard address.
    # Random even start so concurrent test servers rarely contend for the same ports.
    pool = GstRtspServer.RTSPAddressPool()
    first = 20000 + 2 * random.randrange(0, 15000)
    if not pool.add_range(BIND_ADDRESS, BIND_ADDRESS, first, first + 9999, 0):
        raise SystemExit("could not configure the UDP address pool")
    factory.set_address_pool(pool)

    path = args.path if args.path.startswith("/") else "/" + args.path
    server.get_mount_points().add_factory(path, factory)

    if server.attach(None) == 0:
        print("ERROR could not bind {}:{}".format(BIND_ADDRESS, args.port), flush=True)
        sys.exit(1)

    def quit_loop(*_a):
        loop.quit()
        return GLib.SOURCE_REMOVE

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, quit_loop)

    stdin_fd = sys.stdin.fileno()

    def on_stdin(fd, condition):
        if condition & (GLib.IO_HUP | GLib.IO_ERR):
            loop.quit()
            return GLib.SOURCE_REMOVE
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.quit()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE

    GLib.io_add_watch(stdin_fd, GLib.PRIORITY_DEFAULT,
                      GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, on_stdin)

    print("READY {}".format(server.get_bound_port()), flush=True)
    try:
        loop.run()
    finally:
        # Close client sessions and media pipelines before exiting.
        pool_sessions = server.get_session_pool()
        if pool_sessions is not None:
            pool_sessions.filter(lambda _p, _s, _u: GstRtspServer.RTSPFilterResult.REMOVE, None)
    sys.exit(0)


if __name__ == "__main__":
    main()
