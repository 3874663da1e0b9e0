// One live session: a WHEP-style offer/answer with the web front, one audio and one
// video track in, the "events" data channel for what the avatar is doing. The audio
// transceiver is sendrecv from the start: the microphone is put on its sender when the
// person first talks (replaceTrack, no renegotiation).

import { ApiError, authHeaders } from "./api.js";
import { LipSync, separateStreams } from "./sync.js";

const GATHER_TIMEOUT_MS = 2000;

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === "complete") {
        pc.removeEventListener("icegatheringstatechange", done);
        resolve();
      }
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_TIMEOUT_MS);
  });
}

export class LiveSession extends EventTarget {
  /**
   * @param {{avatar: string, voice: string, quality: string, mode: string}} settings
   */
  constructor(settings, iceServers = []) {
    super();
    this.iceServers = iceServers;
    this.settings = settings;
    this.pc = null;
    this.channel = null;
    this.location = null;
    this.stream = null;
    this.closed = false;
    this.microphoneSender = null;
    this.listening = false;
    this.sync = null;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Connects; resolves with the MediaStream (audio + video) once the answer is applied. */
  async open() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.microphoneSender = pc.addTransceiver("audio", { direction: "sendrecv" }).sender;
    pc.addTransceiver("video", { direction: "recvonly" });
    this.stream = new MediaStream();
    pc.addEventListener("track", (event) => {
      this.stream.addTrack(event.track);
      this.emit("track", event.track);
    });
    this.channel = pc.createDataChannel("events", { negotiated: true, id: 0 });
    this.channel.addEventListener("open", () => this.listening && this.listen(true));
    this.channel.addEventListener("message", (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      this.emit("avatar-event", data);
    });
    pc.addEventListener("connectionstatechange", () => {
      this.emit("state", pc.connectionState);
      if (pc.connectionState === "failed") this.emit("lost", "The live connection was lost.");
    });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const query = new URLSearchParams(this.settings).toString();
    let response;
    try {
      response = await fetch(`/api/sessions?${query}`, {
        method: "POST",
        headers: authHeaders({ "Content-Type": "application/sdp" }),
        body: pc.localDescription.sdp,
      });
    } catch {
      pc.close();
      throw new ApiError("The page cannot reach its server; check that it is running.", 0, "NETWORK");
    }
    if (response.status !== 201) {
      pc.close();
      let body = {};
      try {
        body = await response.json();
      } catch {
        body = {};
      }
      const retry = Number(response.headers.get("Retry-After")) || null;
      throw new ApiError(body.error || `The live session could not start (${response.status}).`,
        response.status, body.code || "", retry);
    }
    this.location = response.headers.get("Location");
    // The page keeps sound and picture together itself (sync.js), not the browser.
    const answer = separateStreams(await response.text());
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    // A conversation, not a broadcast: ask the browser to buffer as little as it can.
    for (const receiver of pc.getReceivers()) {
      if ("jitterBufferTarget" in receiver) receiver.jitterBufferTarget = 0;
    }
    return this.stream;
  }

  /** Keeps the picture shown by `video` (playing this session's stream) with its sound. */
  keepInSync(video) {
    if (this.sync || !this.pc) return;
    this.sync = new LipSync(this.pc, video);
    if (!this.sync.start()) this.sync = null;
  }

  async post(path, body) {
    if (!this.location) throw new ApiError("The live session is not connected yet.");
    const response = await fetch(`${this.location}/${path}`, {
      method: "POST",
      headers: authHeaders({ "Content-Type": "application/json" }),
      body: JSON.stringify(body || {}),
    });
    if (!response.ok) {
      let data = {};
      try {
        data = await response.json();
      } catch {
        data = {};
      }
      throw new ApiError(data.error || `The server answered ${response.status}.`, response.status, data.code || "");
    }
    return response.status === 202 && path === "turns" ? response.json() : null;
  }

  /** Puts a microphone track (or null) on the audio sender. */
  async setMicrophone(track) {
    if (this.microphoneSender) await this.microphoneSender.replaceTrack(track);
  }

  /** Tells the server to send the microphone to the avatar (true) or to stop (false). */
  listen(on) {
    this.listening = on;
    if (this.channel && this.channel.readyState === "open") {
      this.channel.send(JSON.stringify({ type: "listen", on }));
    }
  }

  /** Tells the server what is being typed: it makes the voice of its first sentence now. */
  draft(text, mode) {
    if (this.channel && this.channel.readyState === "open") {
      this.channel.send(JSON.stringify({ type: "draft", text, mode }));
    }
  }

  say(text, mode, clientTurnId) {
    return this.post("turns", { text, mode, client_turn_id: clientTurnId });
  }

  interrupt() {
    return this.post("interrupt");
  }

  /** Ends the session here and on the server. */
  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.sync) this.sync.stop();
    if (this.location) {
      fetch(this.location, { method: "DELETE", headers: authHeaders(), keepalive: true }).catch(() => {});
    }
    if (this.pc) this.pc.close();
  }
}
