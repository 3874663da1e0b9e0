"""Scripts run inside the page: what the video shows and what the audio sounds like."""

VIDEO_STATE = """() => {
  const video = document.querySelector('[data-testid="live-video"]');
  const stream = video.srcObject;
  return {
    currentTime: video.currentTime,
    videoWidth: video.videoWidth,
    videoHeight: video.videoHeight,
    audioTracks: stream ? stream.getAudioTracks().length : 0,
    videoTracks: stream ? stream.getVideoTracks().length : 0,
    paused: video.paused,
  };
}"""

# A WebAudio analyser on the received stream: window.audioProbe.peak is the loudest RMS
# level (0..1) heard since the last reset().
START_AUDIO_PROBE = """async () => {
  const video = document.querySelector('[data-testid="live-video"]');
  const context = new AudioContext();
  await context.resume();
  const source = context.createMediaStreamSource(video.srcObject);
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const probe = { peak: 0, context, reset() { this.peak = 0; } };
  setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const value of samples) sum += value * value;
    probe.peak = Math.max(probe.peak, Math.sqrt(sum / samples.length));
  }, 10);
  window.audioProbe = probe;
  return context.state;
}"""

AUDIO_PEAK = "() => window.audioProbe.peak"
RESET_AUDIO_PEAK = "() => window.audioProbe.reset()"

HISTORY = """() => [...document.querySelectorAll('[data-testid="history-item"]')].map(
  (item) => ({ state: item.dataset.state, text: item.querySelector('.text').textContent,
               timings: item.querySelector('.timings').textContent }))"""

ERROR_TEXT = """() => {
  const error = document.querySelector('[data-testid="error"]');
  return error.hidden ? "" : error.querySelector('.error-text').textContent;
}"""

# How the page keeps the picture with its sound (static/sync.js): its last figures, the
# hold it gave the video receiver, and the stream of each track in the answer it applied.
SYNC_STATE = """() => {
  const session = window.avatarSession;
  const sync = session.sync;
  const receiver = session.pc.getReceivers().find((r) => r.track.kind === "video");
  const streams = {};
  for (const section of session.pc.remoteDescription.sdp.split(/(?=^m=)/m).slice(1)) {
    const kind = section.slice(2, section.indexOf(" "));
    const msid = section.match(/^a=msid:(\\S+)/m);
    streams[kind] = msid ? msid[1] : null;
  }
  return {
    running: sync !== null,
    audioMs: sync && sync.audioMs,
    videoMs: sync && sync.videoMs,
    holdMs: sync && sync.holdMs,
    target: receiver.jitterBufferTarget,
    streams,
  };
}"""

# The sync's two pure parts, run in the page on given figures and an answer of aiortc's.
SYNC_PARTS = """async () => {
  const { nextHold, separateStreams } = await import("/static/sync.js");
  const answer = [
    "v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=msid:stream-1 audio-1", "a=ssrc:11 msid:stream-1 audio-1",
    "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=msid:stream-1 video-1", "a=ssrc:22 msid:stream-1 video-1",
    "",
  ].join("\\r\\n");
  return {
    holds: [nextHold(40, 70, 50), nextHold(40, 30, 50), nextHold(5, 10, 90), nextHold(990, 1500, 100)],
    answer: separateStreams(answer).split("\\r\\n"),
  };
}"""
