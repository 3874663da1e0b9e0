// The page: avatars (create, pick, delete), the live avatar, the composer, talking to it
// (voice.js) and the history.

import { ApiError, json, request, setToken, uploadPhoto } from "./api.js";
import { LiveSession } from "./live.js";
import { VoiceInput } from "./voice.js";

const $ = (selector) => document.querySelector(selector);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

const ui = {
  screen: $(".screen"),
  poster: $(".screen .poster"),
  video: byTestId("live-video"),
  badge: $(".screen .badge"),
  error: byTestId("error"),
  errorText: $(".error-text"),
  errorClose: $(".error-close"),
  form: $(".composer"),
  text: byTestId("text-input"),
  send: byTestId("send"),
  stop: byTestId("stop"),
  mode: byTestId("mode"),
  quality: byTestId("quality"),
  voice: byTestId("voice"),
  photo: byTestId("photo-input"),
  preview: $(".dropzone .preview"),
  dropzone: $(".dropzone"),
  dropzoneText: $(".dropzone-text"),
  name: $(".avatar-name"),
  create: byTestId("create-avatar"),
  progress: $(".progress"),
  progressBar: $(".progress progress"),
  progressText: $(".progress-text"),
  avatarList: $(".avatar-list"),
  history: byTestId("history"),
  tokenDialog: $(".token-dialog"),
  tokenInput: $(".token-input"),
  mic: byTestId("mic"),
  handsFree: byTestId("hands-free"),
  micLevel: byTestId("mic-level"),
  transcript: byTestId("transcript"),
};

const state = {
  limits: { max_upload_bytes: 10 * 1024 * 1024 },
  avatars: [],
  avatarId: localStorage.getItem("avatar-selected") || "",
  session: null,
  retryTimer: null,
  turns: new Map(), // client_turn_id -> {item, text, mode}
  playing: null, // client_turn_id whose speech is playing
  turnCounter: 0,
  photoFile: null,
  posterUrls: new Map(),
};

// Errors, in words, without stopping the live stream.

function showError(message) {
  ui.errorText.textContent = message;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.errorText.textContent = "";
}

ui.errorClose.addEventListener("click", clearError);

const voice = new VoiceInput(
  { button: ui.mic, handsFree: ui.handsFree, level: ui.micLevel, transcript: ui.transcript },
  showError,
);
window.avatarVoice = voice; // for diagnostics and the browser benchmark

function setScreen(screenState, badge = "") {
  ui.screen.dataset.state = screenState;
  ui.badge.textContent = badge;
}

// The access token: asked for when the server says it needs one.

function askToken() {
  return new Promise((resolve) => {
    ui.tokenInput.value = "";
    ui.tokenDialog.returnValue = "";
    ui.tokenDialog.addEventListener(
      "close",
      () => {
        const ok = ui.tokenDialog.returnValue === "ok" && ui.tokenInput.value.trim();
        if (ok) setToken(ui.tokenInput.value.trim());
        resolve(Boolean(ok));
      },
      { once: true },
    );
    ui.tokenDialog.showModal();
  });
}

/** Runs `action`; when the server asks for a token, asks the person and tries again. */
async function withToken(action) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await action();
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && attempt < 3) {
        setToken("");
        if (await askToken()) continue;
        throw new ApiError("Without the access token the avatar cannot be used.", 401);
      }
      throw error;
    }
  }
}

function report(error) {
  showError(error instanceof ApiError || error instanceof Error ? error.message : String(error));
}

// Voices and avatars.

async function loadVoices() {
  const data = await withToken(() => json("/api/voices"));
  ui.voice.replaceChildren();
  for (const voice of data.voices) {
    const option = document.createElement("option");
    option.value = voice.name;
    const language = voice.language ? ` (${voice.language})` : "";
    option.textContent = `${voice.name}${language}${voice.is_default ? " · default" : ""}`;
    option.disabled = !voice.available;
    option.title = voice.description || "";
    if (voice.is_default) option.selected = true;
    ui.voice.append(option);
  }
}

async function posterUrl(avatarId) {
  if (!state.posterUrls.has(avatarId)) {
    const response = await withToken(() => request(`/api/avatars/${avatarId}/poster.gif`));
    state.posterUrls.set(avatarId, URL.createObjectURL(await response.blob()));
  }
  return state.posterUrls.get(avatarId);
}

async function loadAvatars() {
  const data = await withToken(() => json("/api/avatars"));
  state.avatars = data.avatars;
  renderAvatars();
}

function renderAvatars() {
  ui.avatarList.replaceChildren();
  for (const avatar of state.avatars) {
    const item = document.createElement("li");
    item.dataset.testid = "avatar-item";
    item.dataset.avatarId = avatar.id;
    item.setAttribute("aria-current", String(avatar.id === state.avatarId));
    const pick = document.createElement("button");
    pick.type = "button";
    pick.className = "pick";
    pick.title = "Show this avatar";
    const image = document.createElement("img");
    image.alt = "";
    posterUrl(avatar.id).then((url) => (image.src = url)).catch(() => {});
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = avatar.name || `Avatar ${avatar.id.slice(0, 6)}`;
    pick.append(image, name);
    pick.addEventListener("click", () => selectAvatar(avatar.id));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "quiet delete";
    remove.dataset.testid = "delete-avatar";
    remove.textContent = "Delete";
    remove.setAttribute("aria-label", `Delete ${name.textContent}`);
    remove.addEventListener("click", () => deleteAvatar(avatar.id));
    item.append(pick, remove);
    ui.avatarList.append(item);
  }
}

async function deleteAvatar(avatarId) {
  try {
    await withToken(() => request(`/api/avatars/${avatarId}`, { method: "DELETE" }));
    if (avatarId === state.avatarId) {
      stopSession();
      state.avatarId = "";
      localStorage.removeItem("avatar-selected");
      ui.poster.hidden = true;
      setScreen("empty");
    }
    await loadAvatars();
  } catch (error) {
    report(error);
  }
}

// Creating an avatar from a photo.

function choosePhoto(file) {
  if (!file) return;
  state.photoFile = file;
  ui.create.disabled = false;
  ui.dropzoneText.textContent = file.name;
  if (file.type.startsWith("image/")) {
    ui.preview.src = URL.createObjectURL(file);
    ui.preview.hidden = false;
  } else {
    ui.preview.hidden = true;
  }
}

function resetPhoto() {
  state.photoFile = null;
  ui.photo.value = "";
  ui.name.value = "";
  ui.preview.hidden = true;
  ui.dropzoneText.textContent = "Choose or drop a face photo";
}

ui.photo.addEventListener("change", () => choosePhoto(ui.photo.files[0]));
for (const type of ["dragenter", "dragover"]) {
  ui.dropzone.addEventListener(type, (event) => {
    event.preventDefault();
    ui.dropzone.classList.add("over");
  });
}
for (const type of ["dragleave", "drop"]) {
  ui.dropzone.addEventListener(type, () => ui.dropzone.classList.remove("over"));
}
ui.dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  choosePhoto(event.dataTransfer.files[0]);
});

function megabytes(count) {
  return `${(count / (1024 * 1024)).toFixed(1)} MB`;
}

function showProgress(stage, fraction) {
  ui.progress.hidden = false;
  if (stage === "upload") {
    ui.progressBar.value = Math.round(fraction * 100);
    ui.progressText.textContent = `Uploading the photo… ${Math.round(fraction * 100)}%`;
  } else {
    ui.progressBar.removeAttribute("value"); // indeterminate while the server works
    ui.progressText.textContent = "Finding the face and rendering its idle motion…";
  }
}

async function createAvatar() {
  const file = state.photoFile;
  if (!file) return;
  clearError();
  if (file.size > state.limits.max_upload_bytes) {
    showError(`The photo is ${megabytes(file.size)}; the largest accepted is ${megabytes(state.limits.max_upload_bytes)}.`);
    return;
  }
  ui.create.disabled = true;
  showProgress("upload", 0);
  try {
    const avatar = await withToken(() => uploadPhoto(file, ui.name.value.trim(), showProgress));
    ui.progressText.textContent = "Ready.";
    for (const warning of avatar.warnings || []) showError(warning);
    resetPhoto();
    await loadAvatars();
    await selectAvatar(avatar.id);
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) {
      showError(`That photo cannot be used: ${error.message}`);
    } else {
      report(error);
    }
  } finally {
    ui.progress.hidden = true;
    ui.create.disabled = !state.photoFile;
  }
}

ui.create.addEventListener("click", createAvatar);

// The live session.

function stopSession() {
  clearTimeout(state.retryTimer);
  if (state.session) state.session.close();
  state.session = null;
  ui.video.srcObject = null;
  state.playing = null;
  ui.send.disabled = true;
  ui.stop.disabled = true;
  voice.attach(null);
}

// What is said into the microphone is answered (chat), or left to auto to decide; text
// turns name their own mode.
function speechMode() {
  return ui.mode.value === "auto" ? "auto" : "chat";
}

async function selectAvatar(avatarId) {
  state.avatarId = avatarId;
  localStorage.setItem("avatar-selected", avatarId);
  renderAvatars();
  await connect();
}

async function connect() {
  stopSession();
  if (!state.avatarId) return;
  const avatarId = state.avatarId;
  setScreen("connecting", "Connecting…");
  posterUrl(avatarId)
    .then((url) => {
      ui.poster.src = url;
      ui.poster.hidden = false;
    })
    .catch(() => (ui.poster.hidden = true));
  const session = new LiveSession(
    { avatar: avatarId, voice: ui.voice.value, quality: ui.quality.value, mode: speechMode() },
    state.limits.ice_servers || [],
  );
  state.session = session;
  window.avatarSession = session; // for diagnostics (getStats) and the browser tests
  session.addEventListener("avatar-event", (event) => onAvatarEvent(session, event.detail));
  session.addEventListener("lost", (event) => {
    if (state.session !== session) return;
    showError(`${event.detail} Reconnecting…`);
    state.retryTimer = setTimeout(connect, 1500);
  });
  try {
    const stream = await withToken(() => session.open());
    if (state.session !== session) return session.close();
    ui.video.srcObject = stream;
    session.keepInSync(ui.video);
    ui.send.disabled = false;
    voice.attach(session);
  } catch (error) {
    if (state.session !== session) return;
    state.session = null;
    setScreen("idle-poster", "Not connected");
    if (error instanceof ApiError && error.status === 503) {
      const seconds = error.retryAfter || 5;
      showError(`The avatar is busy, retry in ${seconds} s.`);
      state.retryTimer = setTimeout(connect, seconds * 1000);
    } else {
      report(error);
    }
  }
}

ui.video.addEventListener("playing", () => {
  if (ui.screen.dataset.state === "connecting") setScreen("idle", "Idle");
});
ui.voice.addEventListener("change", () => state.avatarId && connect());
ui.quality.addEventListener("change", () => state.avatarId && connect());
ui.mode.addEventListener("focus", () => (ui.mode.dataset.speechMode = speechMode()));
ui.mode.addEventListener("change", () => {
  if (state.avatarId && ui.mode.dataset.speechMode !== speechMode()) connect();
  ui.mode.dataset.speechMode = speechMode();
});

// Messages and the history.

function formatSeconds(seconds) {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(2)} s`;
}

const STATE_WORDS = { speaking: "Speaking", done: "Done", interrupted: "Interrupted", error: "Failed" };

function addHistoryItem(clientTurnId, text, mode, fromSpeech = false) {
  const item = document.createElement("li");
  item.dataset.testid = "history-item";
  item.dataset.turn = clientTurnId;
  item.dataset.source = fromSpeech ? "speech" : "text";
  const body = document.createElement("p");
  body.className = fromSpeech ? "text from-speech" : "text";
  body.textContent = text;
  const answer = document.createElement("p");
  answer.className = "answer";
  answer.hidden = true;
  const meta = document.createElement("div");
  meta.className = "meta";
  const label = document.createElement("span");
  label.className = "state";
  const timings = document.createElement("span");
  timings.className = "timings";
  meta.append(label, timings);
  item.append(body, answer, meta);
  ui.history.append(item);
  ui.history.scrollTop = ui.history.scrollHeight; // the list scrolls, not the page
  const turn = { item, text, mode, label, timings, answer, meta, sentences: [] };
  state.turns.set(clientTurnId, turn);
  setTurnState(turn, "speaking");
  return turn;
}

function setTurnState(turn, turnState, note = "") {
  turn.item.dataset.state = turnState;
  turn.label.textContent = note ? `${STATE_WORDS[turnState]}: ${note}` : STATE_WORDS[turnState];
}

function showTimings(turn, ended) {
  const parts = [
    `first audio ${formatSeconds(ended.time_to_first_audio_seconds)}`,
    `first frame ${formatSeconds(ended.time_to_first_frame_seconds)}`,
    `total ${formatSeconds(ended.total_seconds)}`,
  ];
  if (ended.real_time_factor) parts.push(`RTF ${ended.real_time_factor.toFixed(2)}`);
  turn.timings.textContent = parts.join(" · ");
}

function addDownload(turn, spokenText) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "quiet download";
  button.dataset.testid = "download-mp4";
  button.textContent = "Download MP4";
  const avatarId = state.avatarId;
  const voice = ui.voice.value;
  const quality = ui.quality.value;
  button.addEventListener("click", async () => {
    button.disabled = true;
    button.textContent = "Rendering…";
    try {
      const query = new URLSearchParams({ text: spokenText, voice, quality });
      const response = await withToken(() => request(`/api/avatars/${avatarId}/speech.mp4?${query}`));
      const url = URL.createObjectURL(await response.blob());
      const link = document.createElement("a");
      link.href = url;
      link.download = "avatar-message.mp4";
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (error) {
      report(error);
    } finally {
      button.disabled = false;
      button.textContent = "Download MP4";
    }
  });
  turn.meta.append(button);
}

function onAvatarEvent(session, event) {
  if (state.session !== session) return;
  window.dispatchEvent(new CustomEvent("avatar-event", { detail: event }));
  const turn = state.turns.get(event.client_turn_id);
  switch (event.type) {
    case "user_speech":
      voice.heard(event);
      break;
    case "turn_started":
      // The final transcript of what the person said, as their message.
      if (event.from_speech && !turn) addHistoryItem(event.client_turn_id, event.text, event.mode, true);
      break;
    case "sentence":
      if (turn && event.from_llm) {
        turn.sentences.push(event.text);
        turn.answer.textContent = turn.sentences.join(" ");
        turn.answer.hidden = false;
      }
      break;
    case "speech_audio":
      state.playing = event.client_turn_id;
      ui.stop.disabled = false;
      setScreen("speaking", "Speaking");
      break;
    case "turn_ended":
      if (turn) {
        setTurnState(turn, event.outcome, event.outcome === "error" ? event.error : "");
        showTimings(turn, event);
        if (event.outcome === "done" && event.spoken_text) addDownload(turn, event.spoken_text);
      }
      if (event.outcome === "error" && event.error) showError(event.error);
      if (state.playing === event.client_turn_id || !state.playing) {
        state.playing = null;
        ui.stop.disabled = true;
        setScreen("idle", "Idle");
      }
      break;
    case "error":
      showError(event.message);
      break;
    default:
      break;
  }
}

// While a person types, the server makes the voice of the text's first sentence, so the
// avatar speaks sooner once it is sent: the text goes as soon as a sentence may have
// ended, else after a pause in the typing (not on every key: each change of the first
// sentence is synthesised anew). Chat turns speak the LLM's answer, nothing typed.
const DRAFT_PAUSE_MS = 150;
let draftTimer = null;

function sendDraft() {
  clearTimeout(draftTimer);
  draftTimer = null;
  if (state.session && ui.mode.value !== "chat") state.session.draft(ui.text.value, ui.mode.value);
}

ui.text.addEventListener("input", () => {
  clearTimeout(draftTimer);
  if (/[.!?…。！？]["')\]]*$/.test(ui.text.value.trimEnd())) sendDraft();
  else draftTimer = setTimeout(sendDraft, DRAFT_PAUSE_MS);
});

async function send() {
  const text = ui.text.value.trim();
  if (!text) return;
  clearTimeout(draftTimer);
  if (!state.session || !state.session.location) {
    showError(state.avatarId ? "The avatar is still connecting; send again in a moment." : "Create or choose an avatar first.");
    return;
  }
  clearError();
  state.turnCounter += 1;
  const clientTurnId = `m${Date.now().toString(36)}${state.turnCounter}`;
  const mode = ui.mode.value;
  // The request leaves first; the page's own work follows while it travels (the turn's
  // events cannot be handled before this function returns to the event loop).
  const saying = state.session.say(text, mode, clientTurnId);
  const turn = addHistoryItem(clientTurnId, text, mode);
  ui.text.value = "";
  try {
    await saying;
  } catch (error) {
    setTurnState(turn, "error", error.message);
    report(error);
  }
}

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
});
ui.text.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  }
});
ui.stop.addEventListener("click", () => state.session && state.session.interrupt().catch(report));
window.addEventListener("pagehide", stopSession);

// Start.

async function start() {
  try {
    state.limits = await json("/api/config");
    await loadVoices().catch(report);
    await loadAvatars();
    if (state.avatarId && state.avatars.some((a) => a.id === state.avatarId)) {
      await connect();
    } else {
      state.avatarId = "";
    }
  } catch (error) {
    report(error);
  } finally {
    document.body.dataset.ready = "true";
  }
}

start();
