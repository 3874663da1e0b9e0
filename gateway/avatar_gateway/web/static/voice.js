// Talking to the avatar: the microphone, push-to-talk or hands-free, its level meter,
// and the live transcript of what the gateway hears.

const CONSTRAINTS = {
  audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
  video: false,
};

/** A person-readable reason why the microphone could not be opened. */
export function microphoneError(error) {
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "The microphone is blocked. Allow it for this page in the browser's site settings to talk to the avatar, or type instead.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return "No microphone was found. Connect one to talk to the avatar, or type instead.";
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return "The microphone is in use by another program or could not be started; close it there and try again.";
  }
  return `The microphone could not be opened (${(error && error.message) || name || "unknown error"}).`;
}

export class VoiceInput {
  /**
   * @param {{button: HTMLButtonElement, handsFree: HTMLInputElement, level: HTMLMeterElement,
   *          transcript: HTMLElement}} ui
   * @param {(message: string) => void} showError
   */
  constructor(ui, showError) {
    this.ui = ui;
    this.showError = showError;
    this.session = null;
    this.stream = null;
    this.track = null;
    this.opening = null;
    this.pressed = false;
    this.audioContext = null;
    this.levelTimer = null;
    this.available = true;
    ui.button.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      ui.button.setPointerCapture?.(event.pointerId);
      this.press();
    });
    for (const type of ["pointerup", "pointercancel"]) {
      ui.button.addEventListener(type, () => this.release());
    }
    ui.button.addEventListener("keydown", (event) => {
      if ((event.key === " " || event.key === "Enter") && !event.repeat) {
        event.preventDefault();
        this.press();
      }
    });
    ui.button.addEventListener("keyup", (event) => {
      if (event.key === " " || event.key === "Enter") this.release();
    });
    ui.handsFree.addEventListener("change", () => this.setHandsFree(ui.handsFree.checked));
  }

  /** A new live session (or none): the microphone goes on its audio sender. */
  attach(session) {
    this.session = session;
    this.available = true;
    this.ui.button.title = "Hold to talk (or hold the space bar on it)";
    const enabled = Boolean(session);
    this.ui.button.disabled = !enabled || this.ui.handsFree.checked;
    this.ui.handsFree.disabled = !enabled;
    this.setTranscript("off", "");
    if (!session) return;
    if (this.track) session.setMicrophone(this.track).catch(() => {});
    if (this.ui.handsFree.checked) session.listen(true);
  }

  /** Opens the microphone once; resolves with its track, or null (the error is shown). */
  async open() {
    if (this.track && this.track.readyState === "live") return this.track;
    if (!this.opening) {
      this.opening = this.openStream().finally(() => (this.opening = null));
    }
    return this.opening;
  }

  async openStream() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.showError("This browser cannot use a microphone here (it needs https or localhost).");
      return null;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(CONSTRAINTS);
    } catch (error) {
      this.showError(microphoneError(error));
      return null;
    }
    this.stream = stream;
    this.track = stream.getAudioTracks()[0];
    this.track.enabled = this.ui.handsFree.checked || this.pressed;
    this.track.addEventListener("ended", () => {
      this.showError("The microphone was disconnected.");
      this.stopMeter();
      this.track = null;
    });
    this.startMeter(stream);
    if (this.session) await this.session.setMicrophone(this.track);
    return this.track;
  }

  async press() {
    if (!this.session || this.ui.handsFree.checked) return;
    this.pressed = true;
    this.ui.button.setAttribute("aria-pressed", "true");
    this.ui.button.textContent = "Listening… release to send";
    const track = await this.open();
    if (!track || !this.pressed) {
      if (!track) this.release();
      return;
    }
    track.enabled = true;
    this.session.listen(true);
    this.setTranscript("listening", "Listening…");
  }

  release() {
    if (!this.pressed) return;
    this.pressed = false;
    this.ui.button.setAttribute("aria-pressed", "false");
    this.ui.button.textContent = "Hold to talk";
    if (this.ui.handsFree.checked) return;
    if (this.session) this.session.listen(false);
    if (this.track) this.track.enabled = false;
    if (this.ui.transcript.dataset.state === "listening") this.setTranscript("off", "");
  }

  async setHandsFree(on) {
    this.ui.button.disabled = on || !this.session;
    if (!on) {
      if (this.track) this.track.enabled = false;
      if (this.session) this.session.listen(false);
      this.setTranscript("off", "");
      return;
    }
    const track = await this.open();
    if (!track) {
      this.ui.handsFree.checked = false;
      this.ui.button.disabled = !this.session;
      return;
    }
    track.enabled = true;
    if (this.session) this.session.listen(true);
    this.setTranscript("listening", "Listening…");
  }

  /** A UserSpeech event from the server. */
  heard(event) {
    switch (event.kind) {
      case "started":
        this.setTranscript("partial", "…");
        break;
      case "partial":
        this.setTranscript("partial", event.text);
        break;
      case "final":
        this.setTranscript("final", event.text);
        break;
      case "error":
        if (event.error_code === "FAILED_PRECONDITION") this.unavailable();
        this.showError(event.error);
        break;
      default:
        break;
    }
  }

  /** The server has no speech input: the controls are turned off for this session. */
  unavailable() {
    this.available = false;
    this.pressed = false;
    this.ui.handsFree.checked = false;
    this.ui.handsFree.disabled = true;
    this.ui.button.disabled = true;
    this.ui.button.setAttribute("aria-pressed", "false");
    this.ui.button.textContent = "Hold to talk";
    this.ui.button.title = "Speech input is not available on this server.";
    if (this.track) this.track.enabled = false;
    if (this.session) this.session.listen(false);
    this.setTranscript("off", "");
  }

  setTranscript(transcriptState, text) {
    this.ui.transcript.dataset.state = transcriptState;
    this.ui.transcript.textContent = text;
  }

  startMeter(stream) {
    this.stopMeter();
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    this.audioContext = new Context();
    this.audioContext.resume().catch(() => {});
    const analyser = this.audioContext.createAnalyser();
    analyser.fftSize = 1024;
    this.audioContext.createMediaStreamSource(stream).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    this.levelTimer = setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const value of samples) sum += value * value;
      const rms = Math.sqrt(sum / samples.length);
      const live = this.track && this.track.enabled;
      // Shown on a loudness scale: -60 dBFS reads 0, 0 dBFS reads 1.
      const level = live && rms > 0 ? Math.max(0, Math.min(1, 1 + (20 * Math.log10(rms)) / 60)) : 0;
      this.ui.level.value = level;
      this.ui.level.dataset.level = level.toFixed(3);
    }, 50);
  }

  stopMeter() {
    clearInterval(this.levelTimer);
    this.levelTimer = null;
    if (this.audioContext) this.audioContext.close().catch(() => {});
    this.audioContext = null;
    this.ui.level.value = 0;
  }
}
