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
