// kaption's web page: plain JavaScript, no build step, nothing from other sites.
//
// The API token lives in this tab's sessionStorage and leaves only in the Authorization header:
// never in a URL. Hence fetch() with a stream reader for the server-sent events (EventSource
// cannot send headers), and blob: URLs for the <video> and its <track>s (neither can either).
// Text from jobs and streams goes into the page through textContent only, never innerHTML.
"use strict";

const TOKEN_KEY = "kaption.token";
const FINAL = new Set(["COMPLETED", "PARTIAL", "FAILED"]);
const STATES = new Set([
  "REQUESTED", "QUEUED", "RUNNING", "DECODING", "TRANSCRIBING", "BUILDING_CUES",
  "COMPLETED", "PARTIAL", "FAILED", "LIVE", "ENDED",
]);
const MAX_FOLLOWED = 3; // event streams held open at once (a browser allows ~6 connections)
const JOBS_EVERY_MS = 5000;
const STREAM_EVERY_MS = 2000;
const SHOWN_CAPTIONS = 200; // the live caption list keeps the latest ones

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

// ---- small helpers ---------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child); // strings become text nodes
  }
  return node;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function authorised(headers) {
  return Object.assign({ Authorization: `Bearer ${token()}` }, headers || {});
}

class SignedOut extends Error {}

async function problem(response) {
  try {
    const body = await response.json();
    const detail = body.detail;
    if (Array.isArray(detail)) return detail.map((d) => d.msg || JSON.stringify(d)).join("; ");
    if (detail) return String(detail);
  } catch (_) {
    // not JSON: the status says enough
  }
  return `${response.status} ${response.statusText}`;
}

// Every API call: the token in its header, a refused token signs the user out.
async function api(path, options) {
  const opts = options || {};
  const response = await fetch(path, {
    ...opts,
    headers: authorised(opts.headers),
    cache: "no-store",
  });
  if (response.status === 401) {
    signOut("The server refused the token. Sign in again.");
    throw new SignedOut();
  }
  if (!response.ok) throw new Error(await problem(response));
  return response;
}

function notice(text) {
  const box = $("notice");
  box.textContent = text || "";
  box.hidden = !text;
}

function badge(node, state) {
  node.textContent = state || "…";
  node.className = "badge" + (STATES.has(state) ? ` state-${state.toLowerCase()}` : "");
}

function when(value) {
  if (value === null || value === undefined) return "";
  const at = typeof value === "number" ? value * 1000 : Date.parse(value);
  if (Number.isNaN(at)) return "";
  const seconds = Math.max(0, Math.round((Date.now() - at) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  return new Date(at).toLocaleString();
}

function clock(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = (s % 60).toFixed(1).padStart(4, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function languageName(code) {
  try {
    const name = new Intl.DisplayNames([navigator.language || "en"], { type: "language" }).of(code);
    return name && name !== code ? `${name} (${code})` : code;
  } catch (_) {
    return code;
  }
}

function show(section) {
  for (const id of ["sign-in", "home", "job", "stream"]) $(id).hidden = id !== section;
  $("session").hidden = section === "sign-in";
}

// A file the API serves, downloaded with the token (a plain link could not send it).
async function download(path, filename) {
  const blob = await (await api(path)).blob();
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function downloadButton(label, path, filename) {
  const button = el("button", { type: "button", class: "secondary", text: label });
  button.addEventListener("click", () => download(path, filename).catch((e) => notice(e.message)));
  return button;
}

// ---- server-sent events over fetch -----------------------------------------------------------

async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
      let event = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(":")) continue; // a comment: keep-alive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) onEvent(event, data.join("\n"));
    }
  }
}

// Follows one job's status events until its final state; onView gets every view.
async function followJob(jobId, onView, signal) {
  const response = await api(`/v1/jobs/${enc(jobId)}/events`, {
    headers: { Accept: "text/event-stream" },
    signal,
  });
  await readEvents(response, (event, data) => {
    if (event === "status") onView(JSON.parse(data));
  });
}

// ---- signing in ------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (location.pathname !== "/") {
    history.replaceState(null, "", "/");
  }
  show("sign-in");
  const error = $("sign-in-error");
  error.textContent = message || "";
  error.hidden = !message;
  $("token").focus();
}

async function signIn(event) {
  event.preventDefault();
  const given = $("token").value.trim();
  $("token").value = "";
  if (!given) return;
  // The token is tried on the API before it is kept.
  const response = await fetch("/v1/jobs", {
    headers: { Authorization: `Bearer ${given}` },
    cache: "no-store",
  });
  if (response.status === 401) {
    $("sign-in-error").textContent = "That token is not valid.";
    $("sign-in-error").hidden = false;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, given);
  $("sign-in-error").hidden = true;
  route();
}

// ---- the home page: jobs and streams ---------------------------------------------------------

const jobRows = new Map(); // job id -> { row, cells }
const followed = new Map(); // job id -> AbortController

function jobRow(view) {
  let entry = jobRows.get(view.job_id);
  if (!entry) {
    const link = el("a", { href: `/jobs/${enc(view.job_id)}` });
    const state = el("span", { class: "badge" });
    const reason = el("div", { class: "reason" });
    const progress = el("progress", { max: "1" });
    const percent = el("span", { class: "percent" });
    const cells = {
      link, state, reason, progress, percent,
      stage: el("td"), languages: el("td"), updated: el("td", { class: "muted" }),
    };
    const row = el(
      "tr",
      { "data-job": view.job_id },
      el("td", {}, link),
      el("td", {}, state, reason),
      cells.stage,
      el("td", { class: "wide" }, el("div", { class: "meter" }, progress, percent)),
      cells.languages,
      cells.updated,
    );
    entry = { row, cells };
    jobRows.set(view.job_id, entry);
  }
  const { cells } = entry;
  cells.link.textContent = view.name || view.job_id;
  badge(cells.state, view.state);
  cells.reason.textContent = view.reason || "";
  cells.stage.textContent = view.stage || "";
  if (typeof view.progress === "number") {
    cells.progress.value = view.progress;
    cells.percent.textContent = `${Math.round(view.progress * 100)} %`;
  } else {
    cells.progress.removeAttribute("value"); // indeterminate
    cells.percent.textContent = view.state === "FAILED" ? "" : "…";
  }
  cells.languages.textContent = (view.languages || []).join(", ");
  cells.updated.textContent = when(view.updated_at);
  cells.updated.dataset.at = view.updated_at || "";
  return entry.row;
}

function follow(jobId) {
  if (followed.has(jobId) || followed.size >= MAX_FOLLOWED) return;
  const control = new AbortController();
  followed.set(jobId, control);
  followJob(jobId, (view) => jobRow(view), control.signal)
    .catch((error) => {
      if (error.name !== "AbortError" && !(error instanceof SignedOut)) console.warn(error);
    })
    .finally(() => followed.delete(jobId));
}

async function refreshJobs() {
  const { jobs } = await (await api("/v1/jobs")).json();
  const body = $("jobs");
  body.replaceChildren(...jobs.map(jobRow));
  $("jobs-empty").hidden = jobs.length > 0;
  $("jobs-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  for (const view of jobs) if (!FINAL.has(view.state)) follow(view.job_id);
}

function streamRow(view) {
  const latency = view.final_latency_p50_s;
  return el(
    "tr",
    { "data-stream": view.stream_id },
    el("td", {}, el("a", { href: `/streams/${enc(view.stream_id)}`, text: view.stream_id })),
    el("td", {}, (() => { const b = el("span"); badge(b, view.state); return b; })(),
      el("div", { class: "reason", text: view.end_reason || "" })),
    el("td", { text: clock(view.media_s) }),
    el("td", { text: typeof latency === "number" ? `${latency.toFixed(1)} s (p50)` : "" }),
    el("td", { class: "wide caption", text: view.last_caption || "" }),
  );
}

async function refreshStreams() {
  const { streams } = await (await api("/v1/streams")).json();
  $("streams").replaceChildren(...streams.map(streamRow));
  $("streams-empty").hidden = streams.length > 0;
}

function every(ms, task) {
  const run = () => task().catch((error) => {
    if (!(error instanceof SignedOut)) notice(error.message);
  });
  run();
  return setInterval(run, ms);
}

function uploadJob(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("media", file);
  if ($("upload-name").value.trim()) form.append("name", $("upload-name").value.trim());
  if ($("upload-language").value.trim()) form.append("language", $("upload-language").value.trim());
  if ($("upload-model").value.trim()) form.append("model", $("upload-model").value.trim());
  // XMLHttpRequest rather than fetch: it reports upload progress, and sends the header too.
  const request = new XMLHttpRequest();
  const bar = $("upload-progress");
  const status = $("upload-status");
  request.open("POST", "/v1/jobs");
  request.setRequestHeader("Authorization", `Bearer ${token()}`);
  request.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) bar.value = e.loaded / e.total;
  });
  request.addEventListener("load", () => {
    bar.hidden = true;
    if (request.status === 401) return signOut("The server refused the token. Sign in again.");
    let body = {};
    try { body = JSON.parse(request.responseText); } catch (_) { /* shown below */ }
    if (request.status === 201) {
      status.textContent = `Job ${body.job_id} started.`;
      $("upload-form").reset();
      refreshJobs().catch((e) => notice(e.message));
    } else {
      status.textContent = `Upload refused: ${body.detail || request.status}`;
    }
  });
  request.addEventListener("error", () => {
    bar.hidden = true;
    status.textContent = "Upload failed: the server could not be reached.";
  });
  bar.value = 0;
  bar.hidden = false;
  status.textContent = `Uploading ${file.name}…`;
  request.send(form);
}

async function submitUrl(event) {
  event.preventDefault();
  const body = { url: $("url-source").value.trim() };
  if ($("url-name").value.trim()) body.name = $("url-name").value.trim();
  if ($("url-language").value.trim()) body.language = $("url-language").value.trim();
  if ($("url-model").value.trim()) body.model = $("url-model").value.trim();
  try {
    const response = await api("/v1/jobs", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const { job_id: jobId } = await response.json();
    $("url-status").textContent = `Job ${jobId} started.`;
    $("url-form").reset();
    await refreshJobs();
  } catch (error) {
    if (!(error instanceof SignedOut)) $("url-status").textContent = `Refused: ${error.message}`;
  }
}

// "es, fr" or "es fr" -> ["es", "fr"] (the API checks each code).
function languageCodes(text) {
  return text.split(/[\s,]+/).filter((code) => code !== "");
}

async function startStream(event) {
  event.preventDefault();
  const body = { source: $("stream-source").value.trim() };
  if ($("stream-name").value.trim()) body.name = $("stream-name").value.trim();
  const languages = languageCodes($("stream-languages").value);
  if (languages.length) body.languages = languages;
  if ($("stream-speakers").checked) body.speakers = true;
  try {
    const response = await api("/v1/streams", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const { stream_id: streamId } = await response.json();
    location.assign(`/streams/${enc(streamId)}`);
  } catch (error) {
    if (!(error instanceof SignedOut)) $("stream-status").textContent = `Refused: ${error.message}`;
  }
}

function showHome() {
  show("home");
  every(JOBS_EVERY_MS, refreshJobs);
  every(JOBS_EVERY_MS, refreshStreams);
}

// ---- a job's page: the video with its subtitles ----------------------------------------------

function renderJob(view) {
  document.title = `${view.name || view.job_id} — kaption`;
  $("job-name").textContent = view.name || view.job_id;
  badge($("job-state"), view.state);
  const parts = [];
  if (view.stage) parts.push(`stage: ${view.stage}`);
  if (typeof view.progress === "number") parts.push(`${Math.round(view.progress * 100)} % done`);
  if (typeof view.cue_count === "number") parts.push(`${view.cue_count} cues`);
  if (view.language && view.language !== "auto") parts.push(`spoken: ${languageName(view.language)}`);
  if (view.models && view.models.length) parts.push(`model: ${view.models.join(", ")}`);
  if (view.reason) parts.push(view.reason);
  $("job-detail").textContent = parts.join(" · ");
}

function listCues(track) {
  const video = $("player");
  const items = Array.from(track.cues || []).map((cue) => {
    const time = el("button", { type: "button", class: "time", text: clock(cue.startTime) });
    time.addEventListener("click", () => { video.currentTime = cue.startTime; video.play(); });
    // cue.text is WebVTT markup (<v>, <i>): shown as plain text with the tags dropped.
    return el("li", {}, time, el("span", { text: cue.text.replace(/<[^>]*>/g, "") }));
  });
  $("job-cues").replaceChildren(...items);
}

function selectLanguage(language) {
  const video = $("player");
  for (const track of video.textTracks) {
    track.mode = track.language === language ? "showing" : "disabled";
    if (track.language === language) {
      if (track.cues && track.cues.length) listCues(track);
    }
  }
  if (!language) $("job-cues").replaceChildren();
}

async function loadPlayer(view) {
  const video = $("player");
  const loading = $("job-loading");
  const languages = (view.languages && view.languages.length)
    ? view.languages : [view.language || "en"];
  const select = $("job-language");
  select.replaceChildren(el("option", { value: "", text: "Off" }));
  const downloads = $("job-downloads");
  downloads.replaceChildren();
  if (view.media !== false) {
    loading.textContent = "Loading the video…";
    const media = await (await api(`/v1/jobs/${enc(view.job_id)}/media`)).blob();
    video.src = URL.createObjectURL(media);
  } else {
    video.hidden = true;
  }
  for (const [index, language] of languages.entries()) {
    const path = `/v1/jobs/${enc(view.job_id)}/subtitles.vtt?language=${enc(language)}`;
    const text = await (await api(path)).text();
    const element = el("track", {
      kind: "subtitles",
      srclang: language,
      label: languageName(language),
      src: URL.createObjectURL(new Blob([text], { type: "text/vtt" })),
    });
    if (index === 0) element.default = true;
    element.addEventListener("load", () => {
      if (select.value === language) listCues(element.track);
    });
    video.append(element);
    select.append(el("option", { value: language, text: languageName(language) }));
    const name = view.name || view.job_id;
    downloads.append(
      downloadButton(`${language} .vtt`, path, `${name}.${language}.vtt`),
      downloadButton(`${language} .srt`,
        `/v1/jobs/${enc(view.job_id)}/subtitles.srt?language=${enc(language)}`,
        `${name}.${language}.srt`),
    );
  }
  select.value = languages[0];
  selectLanguage(languages[0]);
  loading.textContent = "";
}

async function showJob(jobId) {
  show("job");
  $("job-language").addEventListener("change", (e) => selectLanguage(e.target.value));
  let view = await (await api(`/v1/jobs/${enc(jobId)}`)).json();
  renderJob(view);
  if (!FINAL.has(view.state)) {
    $("job-loading").textContent = "Transcribing: the video appears here when the job is done.";
    await followJob(jobId, (latest) => { view = latest; renderJob(latest); });
  }
  if (view.state === "FAILED") {
    $("job-loading").textContent = "";
    $("player").hidden = true;
    return;
  }
  await loadPlayer(view);
}

// ---- a live stream's page: its captions as they come -----------------------------------------

// The cues of a WebVTT file: start time and text (the rolling file grows a phrase at a time).
function parseVtt(text) {
  const cues = [];
  for (const block of text.replace(/\r\n?/g, "\n").split(/\n{2,}/)) {
    const lines = block.split("\n");
    const at = lines.findIndex((line) => line.includes("-->"));
    if (at < 0) continue;
    const start = lines[at].split("-->")[0].trim().split(":").map(Number);
    const seconds = start.reduce((total, part) => total * 60 + part, 0);
    cues.push({ start: seconds, text: lines.slice(at + 1).join(" ").replace(/<[^>]*>/g, "") });
  }
  return cues;
}

function renderStream(view) {
  document.title = `${view.stream_id} — kaption live`;
  $("stream-title").textContent = view.stream_id;
  badge($("stream-state"), view.state);
  const parts = [`${clock(view.media_s)} of media captioned`];
  if (typeof view.final_latency_p50_s === "number") {
    parts.push(`final latency p50 ${view.final_latency_p50_s.toFixed(1)} s,` +
      ` p95 ${view.final_latency_p95_s.toFixed(1)} s`);
  }
  if (view.gap_count) parts.push(`${view.gap_count} gap(s), ${view.gap_s.toFixed(1)} s`);
  if (view.ingest && view.ingest.languages.length) {
    parts.push(`translated to ${view.ingest.languages.join(", ")}`);
  }
  if (view.ingest && view.ingest.speakers) parts.push("speaker labels");
  if (view.end_reason) parts.push(`ended: ${view.end_reason}`);
  $("stream-detail").textContent = parts.join(" · ");
  $("stream-stop").hidden = !(view.ingest && view.ingest.running);
}

async function showStream(streamId) {
  show("stream");
  const base = `/v1/streams/${enc(streamId)}`;
  let shown = -1;
  let timer = null;
  $("stream-stop").addEventListener("click", async () => {
    $("stream-stop").disabled = true;
    try {
      renderStream(await (await api(base, { method: "DELETE" })).json());
    } catch (error) {
      if (!(error instanceof SignedOut)) notice(error.message);
    }
  });
  const poll = async () => {
    const view = await (await api(base)).json();
    renderStream(view);
    const response = await fetch(`${base}/${enc(streamId)}.vtt`, {
      headers: authorised(), cache: "no-store",
    });
    if (response.ok) {
      const text = await response.text();
      if (text.length !== shown) {
        shown = text.length;
        const cues = parseVtt(text).slice(-SHOWN_CAPTIONS);
        $("stream-cues").replaceChildren(...cues.map((cue) => el("li", {},
          el("span", { class: "time", text: clock(cue.start) }),
          el("span", { text: cue.text }))));
        $("stream-empty").hidden = cues.length > 0;
        $("stream-cues").lastElementChild?.scrollIntoView({ block: "nearest" });
      }
    }
    if (view.state === "ENDED" && timer !== null) {
      clearInterval(timer);
      $("stream-downloads").replaceChildren(
        downloadButton("WebVTT", `${base}/${enc(streamId)}.vtt`, `${streamId}.vtt`),
        downloadButton("SRT", `${base}/${enc(streamId)}.srt`, `${streamId}.srt`),
      );
    }
  };
  timer = every(STREAM_EVERY_MS, poll);
}

// ---- routing -----------------------------------------------------------------------------------

function route() {
  notice("");
  if (!token()) {
    signOut("");
    return;
  }
  const path = location.pathname;
  const job = path.match(/^\/jobs\/([^/]+)$/);
  const stream = path.match(/^\/streams\/([^/]+)$/);
  const page = job ? showJob(decodeURIComponent(job[1]))
    : stream ? showStream(decodeURIComponent(stream[1]))
    : showHome();
  Promise.resolve(page).catch((error) => {
    if (!(error instanceof SignedOut)) notice(error.message);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (e) => signIn(e).catch((x) => notice(x.message)));
  $("sign-out").addEventListener("click", () => signOut(""));
  $("upload-form").addEventListener("submit", uploadJob);
  $("url-form").addEventListener("submit", submitUrl);
  $("stream-form").addEventListener("submit", startStream);
  route();
});
