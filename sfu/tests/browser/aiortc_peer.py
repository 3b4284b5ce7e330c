"""An independent WebRTC peer for the SFU's tests: aiortc (not libwebrtc, not
str0m) publishes a synthetic video (frames that change colour) and silent audio,
and answers the SFU's renegotiation offers on the signalling data channel.

    python aiortc_peer.py <sfu base URL> <media token> <seconds>

Prints what it sent when done; exits non-zero if joining failed.
"""

import asyncio
import json
import sys
import urllib.request

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack


class ColourBars(VideoStreamTrack):
    """320x240 frames whose brightness cycles, so every frame has new content."""

    def __init__(self):
        super().__init__()
        self.frames = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(320, 240, "yuv420p")
        shade = (self.frames * 7) % 256
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([shade if index == 0 else 128]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        self.frames += 1
        return frame


def post_offer(base, token, sdp):
    request = urllib.request.Request(
        f"{base}/sfu/sessions",
        data=sdp.encode(),
        method="POST",
        headers={"content-type": "application/sdp", "authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 201:
            raise RuntimeError(f"join: {response.status}")
        return response.read().decode()


async def main(base, token, seconds):
    pc = RTCPeerConnection()
    video = ColourBars()
    pc.addTransceiver(video, direction="sendonly")
    pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    signalling = pc.createDataChannel("cloudcord-signalling")

    @signalling.on("message")
    async def on_message(message):
        data = json.loads(message)
        if data.get("type") != "offer":
            return
        await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        signalling.send(json.dumps({"type": "answer", "sdp": pc.localDescription.sdp}))

    await pc.setLocalDescription(await pc.createOffer())
    answer = await asyncio.to_thread(post_offer, base, token, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.sleep(seconds)
    print(json.dumps({"video_frames_sent": video.frames, "state": pc.connectionState}))
    await pc.close()


if __name__ == "__main__":
    base, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    asyncio.run(main(base, token, seconds))
