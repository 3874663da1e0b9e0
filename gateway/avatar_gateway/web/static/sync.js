// Keeps the picture with its sound, measured where the person sees and hears them.
//
// The web front sends each frame with the sound of its time, so the two arrive together;
// what parts them is how long the browser holds each before playing it. Its audio buffer
// follows the machine's load (from 30 ms on a quiet machine to 80 ms and more on a busy
// one), and the browser's own A/V sync corrects a difference only past 30 ms and from its
// model of the delays, not what is shown. So the page turns that sync off (the two
// tracks in different streams, see `separateStreams`) and does it itself: every half
// second it compares how long the audio takes from its arrival to the speaker (the jitter
// buffer's delay over that time, plus the output's) with how long frames take from their
// arrival to the screen (`requestVideoFrameCallback`), and holds the video longer or
// shorter by half the difference (the video receiver's `jitterBufferTarget`).

const PERIOD_MS = 500;
const GAIN = 0.5;
const MAX_HOLD_MS = 1000;
const MIN_FRAMES = 3; // frames shown in a period for its video delay to count

/** The video hold after one period: `hold` moved by GAIN of (audio delay - video delay). */
export function nextHold(hold, audioMs, videoMs) {
  const next = hold + GAIN * (audioMs - videoMs);
  return Math.min(MAX_HOLD_MS, Math.max(0, Math.round(next)));
}

/** `sdp` (an answer) with its video in a stream of its own: no browser A/V sync. */
export function separateStreams(sdp) {
  const sections = sdp.split(/(?=^m=)/m);
  return sections
    .map((section) => {
      if (!section.startsWith("m=video")) return section;
      return section
        .replace(/^(a=msid:)(\S+)/gm, "$1$2-picture")
        .replace(/^(a=ssrc:\d+ msid:)(\S+)/gm, "$1$2-picture");
    })
    .join("");
}

/** Milliseconds per sample of the `total` seconds counted in `count`, between two
 * reports' figures; null when no sample passed. */
function perSampleMs(now, before, total, count) {
  const samples = now[count] - before[count];
  return samples > 0 ? (1000 * (now[total] - before[total])) / samples : null;
}

export class LipSync {
  /**
   * @param {RTCPeerConnection} pc The live session's connection.
   * @param {HTMLVideoElement} video The element playing its stream.
   */
  constructor(pc, video) {
    this.pc = pc;
    this.video = video;
    this.receiver = null;
    this.audioReceiver = null;
    this.frameDelays = [];
    this.previous = null; // the last report's audio figures
    this.timer = null;
    this.stopped = false;
    // The last period's figures, for diagnostics: ms.
    this.audioMs = null;
    this.videoMs = null;
    this.holdMs = 0;
  }

  /** Starts keeping sound and picture together; false where the browser cannot. */
  start() {
    const receivers = this.pc.getReceivers();
    this.receiver = receivers.find((r) => r.track && r.track.kind === "video");
    this.audioReceiver = receivers.find((r) => r.track && r.track.kind === "audio");
    if (!this.receiver || !this.audioReceiver || !("jitterBufferTarget" in this.receiver)) {
      return false;
    }
    if (!("requestVideoFrameCallback" in this.video)) return false;
    const onFrame = (now, meta) => {
      if (this.stopped) return;
      if (meta.receiveTime) this.frameDelays.push(meta.expectedDisplayTime - meta.receiveTime);
      this.video.requestVideoFrameCallback(onFrame);
    };
    this.video.requestVideoFrameCallback(onFrame);
    this.timer = setInterval(() => this.step().catch(() => {}), PERIOD_MS);
    return true;
  }

  async step() {
    // The audio receiver's figures only: a whole report every half second costs more.
    const report = await this.audioReceiver.getStats();
    let inbound = null;
    let playout = null;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio") inbound = s;
      if (s.type === "media-playout") playout = s;
    });
    const frames = this.frameDelays.splice(0);
    if (!inbound) return;
    const now = {
      jitterBufferDelay: inbound.jitterBufferDelay || 0,
      jitterBufferEmittedCount: inbound.jitterBufferEmittedCount || 0,
      totalPlayoutDelay: playout ? playout.totalPlayoutDelay : 0,
      totalSamplesCount: playout ? playout.totalSamplesCount : 0,
    };
    const before = this.previous;
    this.previous = now;
    if (!before) return;
    const buffered = perSampleMs(now, before, "jitterBufferDelay", "jitterBufferEmittedCount");
    if (buffered === null || frames.length < MIN_FRAMES || this.stopped) return;
    const output = perSampleMs(now, before, "totalPlayoutDelay", "totalSamplesCount") || 0;
    frames.sort((a, b) => a - b);
    this.audioMs = buffered + output;
    this.videoMs = frames[Math.floor(frames.length / 2)];
    this.holdMs = nextHold(this.holdMs, this.audioMs, this.videoMs);
    this.receiver.jitterBufferTarget = this.holdMs;
  }

  stop() {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
