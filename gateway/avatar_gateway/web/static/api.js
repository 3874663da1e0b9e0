// Calls to the web front's JSON API, with the access token and errors in plain words.

const TOKEN_KEY = "avatar-token";

/** An API failure: `message` is meant for people, `status` and `code` for the page. */
export class ApiError extends Error {
  constructor(message, status = 0, code = "", retryAfter = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders(extra = {}) {
  const headers = { ...extra };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  return headers;
}

async function failure(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  const retry = Number(response.headers.get("Retry-After")) || body.retry_after_seconds || null;
  const message = body.error || `The server answered ${response.status} ${response.statusText}.`;
  return new ApiError(message, response.status, body.code || "", retry);
}

/** fetch() that throws ApiError for any non-2xx answer or a network failure. */
export async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: authHeaders(options.headers || {}) });
  } catch {
    throw new ApiError("The page cannot reach its server; check that it is running.", 0, "NETWORK");
  }
  if (!response.ok) throw await failure(response);
  return response;
}

export async function json(path, options = {}) {
  const response = await request(path, options);
  return response.status === 204 ? null : response.json();
}

/** Uploads a photo with progress (fetch has no upload progress; XMLHttpRequest has). */
export function uploadPhoto(file, name, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/avatars?name=${encodeURIComponent(name)}`);
    for (const [key, value] of Object.entries(authHeaders())) xhr.setRequestHeader(key, value);
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.responseType = "json";
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress("upload", event.loaded / event.total);
    };
    xhr.upload.onload = () => onProgress("processing", 1);
    xhr.onerror = () =>
      reject(new ApiError("The upload failed: the page cannot reach its server.", 0, "NETWORK"));
    xhr.onload = () => {
      const body = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(body.error || `The upload failed (${xhr.status}).`, xhr.status, body.code || ""));
    };
    xhr.send(file);
  });
}
