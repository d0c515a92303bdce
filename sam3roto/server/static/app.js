/* sam3roto serve: the page at "/". Plain JS, no build step, no external assets.
 *
 * Talks to the JSON API documented in sam3roto/server/app.py (same origin: the HttpOnly
 * cookie set by "/?token=..." authenticates every fetch, <img> and download). The page
 * keeps no state the server does not have, except prompts placed but not yet sent.
 */
"use strict";

(() => {
  // ---- constants ------------------------------------------------------------------------
  const MEDIA_SUFFIXES = [".mp4", ".mov", ".mkv", ".avi", ".m4v", ".webm", ".mxf", ".zip", ".png", ".jpg", ".jpeg",
    ".tif", ".tiff", ".exr"];
  const IMAGE_SUFFIXES = [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr"];
  const BUSY = ["queued", "running"];
  const IDLE = ["ready", "done", "failed", "cancelled", "interrupted"];
  // The render outputs (sam3roto/export/registry.py, in its order; the API has no list of them).
  const OUTPUTS = [
    ["Masks and mattes", [
      ["mask-zip", "Mask ZIP", "8-bit 0/255 PNG masks in one ZIP", true],
      ["png-alpha", "PNG matte", "a grey PNG matte per object (8/16 bit)", false],
      ["png-combined", "PNG combined", "one binary matte of all objects", false],
      ["png-rgba", "PNG RGBA", "the plate cut out per object", false],
      ["postshot", "Postshot RGBA", "plate RGB + combined alpha", false],
      ["exr", "EXR layers", "multi-layer EXR, a half alpha per object", false],
      ["prores", "ProRes 4444", ".mov with alpha per object (needs ffmpeg)", false],
    ]],
    ["Need depth on the job's project (sam3roto depth)", [
      ["depth-png16", "Depth PNG16", "", false],
      ["depth-exr", "Depth EXR", "", false],
      ["normals-png", "Normals PNG", "", false],
      ["normals-exr", "Normals EXR", "", false],
      ["camera-npz", "Camera NPZ", "", false],
      ["chan", "Nuke .chan", "", false],
      ["ply", "Point cloud PLY", "", false],
      ["blender", "Blender script", "", false],
    ]],
  ];
  const PENDING_COLOUR = [255, 255, 255];

  // ---- the token leaves the address bar (the cookie carries it from now on) ----------------
  const url = new URL(window.location.href);
  if (url.searchParams.has("token")) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + (url.search || "") + url.hash);
  }

  // ---- state ------------------------------------------------------------------------------
  const S = {
    jobs: [],                // GET /api/jobs (the list leaves each job's objects out)
    detail: {},              // job id -> GET /api/jobs/{id} (with its objects)
    bump: {},                // job id -> edits made here (the overlay's address changes with them)
    selected: null,          // job id
    frameOf: {},             // job id -> frame index shown
    pending: {},             // job id -> [{name, frame, points: [[x,y,pos]], boxes: [[x0,y0,x1,y1]]}] in order placed
    uploads: {},             // job id -> {label, loaded, total, phase, abort}
    lsTasks: {},             // job id -> [{id, summary}] awaiting a choice
    lsNote: {},              // job id -> text of the last import
    promptNote: {},          // job id -> [text, warn]
    renders: {},             // job id -> [{version, files}]
    engines: [],
    pollTimer: null,
    lastState: {},           // job id -> state at the previous poll
    lastUpdated: {},         // job id -> "updated" at the previous poll
    drag: null,              // a box being dragged
    online: true,
  };

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  };

  // ---- errors -----------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message, hint) {
      super(message);
      this.status = status;
      this.hint = hint || "";
    }
  }

  function showError(err) {
    const message = err instanceof Error ? err.message : String(err);
    $("banner-error").textContent = message;
    $("banner-hint").textContent = err && err.hint ? err.hint : "";
    $("banner").hidden = false;
    if (err && err.status === 401) {
      $("banner-hint").textContent = "Open this page again as /?token=TOKEN (the token is in the server's DATA/token).";
    }
  }
  function clearError() { $("banner").hidden = true; }
  $("banner-close").addEventListener("click", clearError);

  function errorFrom(status, text) {
    let data = null;
    try { data = JSON.parse(text); } catch (_) { /* not JSON: a proxy's page */ }
    if (data && typeof data.error === "string") return new ApiError(status, data.error, data.hint);
    if (data && data.detail) return new ApiError(status, typeof data.detail === "string" ? data.detail
      : JSON.stringify(data.detail));
    return new ApiError(status, `the server answered ${status}`, text ? text.slice(0, 200) : "");
  }

  function setOnline(ok) {
    S.online = ok;
    $("conn").classList.toggle("down", !ok);
    $("conn").title = ok ? "connected to the server" : "the server does not answer";
  }

  // ---- the API ----------------------------------------------------------------------------
  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (exc) {
      setOnline(false);
      throw new ApiError(0, "the server does not answer", "check that sam3roto serve is still running");
    }
    setOnline(true);
    const text = await response.text();
    if (!response.ok) throw errorFrom(response.status, text);
    return text ? JSON.parse(text) : null;
  }

  /** PUT ``file`` to ``path`` with upload progress; resolves to the JSON answer. */
  function xhrPut(path, file, onProgress) {
    const xhr = new XMLHttpRequest();
    const promise = new Promise((resolve, reject) => {
      xhr.open("PUT", path);
      xhr.withCredentials = true;
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size, false);
      xhr.upload.onload = () => onProgress(file.size, file.size, true);
      xhr.onload = () => {
        setOnline(true);
        if (xhr.status >= 200 && xhr.status < 300) {
          try { resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null); } catch (exc) { reject(exc); }
        } else {
          reject(errorFrom(xhr.status, xhr.responseText));
        }
      };
      xhr.onerror = () => { setOnline(false); reject(new ApiError(0, `uploading ${file.name} failed: the connection broke`)); };
      xhr.onabort = () => reject(new ApiError(0, `the upload of ${file.name} was stopped`));
      xhr.send(file);
    });
    return { promise, abort: () => xhr.abort() };
  }

  const jobPath = (id, rest = "") => `/api/jobs/${encodeURIComponent(id)}${rest}`;
  /** The selected job: the list's latest state with the objects of its last full description. */
  function currentJob() {
    const listed = S.jobs.find((j) => j.id === S.selected);
    if (!listed) return null;
    const detail = S.detail[listed.id];
    return detail ? { ...listed, objects: detail.objects || [], frame_numbers: detail.frame_numbers }
      : { ...listed, objects: [] };
  }

  // ---- formatting -------------------------------------------------------------------------
  function fmtTime(seconds) {
    const d = new Date(seconds * 1000);
    const pad = (n) => String(n).padStart(2, "0");
    const today = new Date();
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (d.toDateString() === today.toDateString()) return `today ${time}`;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  }
  function fmtBytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 ** 2) return `${(n / 1024).toFixed(0)} KB`;
    if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
    return `${(n / 1024 ** 3).toFixed(2)} GB`;
  }
  const jobName = (job) => job.name || `job ${job.id}`;
  const rgb = (c) => `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
  const suffixOf = (name) => { const i = name.lastIndexOf("."); return i < 0 ? "" : name.slice(i).toLowerCase(); };

  function progressText(job) {
    const p = job.progress || {};
    if (job.state === "queued") return job.queue_position ? `queued, ${job.queue_position} ahead` : "queued, next";
    if (job.state !== "running") return "";
    const kind = job.run && job.run.kind ? `${job.run.kind}: ` : "";
    const pct = p.total ? ` ${Math.floor((100 * p.done) / p.total)}%` : "";
    return `${kind}${p.message || "running"}${pct}`;
  }

  function setProgress(node, fraction, text) {
    node.hidden = false;
    node.classList.toggle("indeterminate", fraction === null);
    node.querySelector(".bar").style.width = fraction === null ? "" : `${Math.max(0, Math.min(1, fraction)) * 100}%`;
    const label = node.querySelector(".progress-text");
    if (label) label.textContent = text;
  }

  // ---- frames: index <-> source frame number -------------------------------------------------
  // A job's full description lists every index's frame number (a sequence with gaps has
  // numbers that skip); until it has come, consecutive numbers from the media's first and
  // last do. null: the numbers are not known yet.
  function numbering(job) {
    const media = job && job.media;
    if (!media) return null;
    if (Array.isArray(job.frame_numbers) && job.frame_numbers.length === media.frames) {
      return (index) => job.frame_numbers[index];
    }
    if (!Array.isArray(media.frame_numbers)) return null;
    const [first, last] = media.frame_numbers;
    return last - first + 1 === media.frames ? (index) => first + index : null;
  }
  function frameNumber(job, index) {
    const number = numbering(job);
    return number === null ? null : number(index);
  }

  // ---- jobs list ------------------------------------------------------------------------------
  const jobItems = new Map();

  function renderJobList() {
    const list = $("job-list");
    const jobs = [...S.jobs].sort((a, b) => b.created - a.created);
    $("jobs-empty").hidden = jobs.length > 0;
    $("jobs-count").textContent = jobs.length ? String(jobs.length) : "";
    const seen = new Set();
    jobs.forEach((job, n) => {
      seen.add(job.id);
      let li = jobItems.get(job.id);
      if (!li) {
        li = el("li", { class: "job-item", "data-id": job.id, tabindex: "0" },
          el("div", { class: "top" }, el("span", { class: "name" }), el("span", { class: "state" })),
          el("div", { class: "progress", hidden: true }, el("div", { class: "bar" }), el("span", { class: "progress-text" })),
          el("div", { class: "meta" }, el("span", { class: "created" }), el("span", { class: "ptext" }), el("span", { class: "actions" },
            el("button", { class: "cancel", title: "stop this job's run", text: "Cancel",
              onclick: (e) => { e.stopPropagation(); cancelJob(job.id); } }),
            el("button", { class: "delete danger", title: "delete this job and its files", text: "Delete",
              onclick: (e) => { e.stopPropagation(); deleteJob(job.id); } }))));
        li.addEventListener("click", () => selectJob(job.id));
        li.addEventListener("keydown", (e) => { if (e.key === "Enter") selectJob(job.id); });
        jobItems.set(job.id, li);
      }
      li.classList.toggle("selected", job.id === S.selected);
      li.querySelector(".name").textContent = jobName(job);
      li.querySelector(".name").title = `${jobName(job)} (${job.id})`;
      const state = li.querySelector(".state");
      state.className = `state ${job.state}`;
      state.textContent = job.state;
      li.querySelector(".created").textContent = fmtTime(job.created);
      const upload = S.uploads[job.id];
      li.querySelector(".ptext").textContent = upload ? "uploading" : progressText(job) || (job.media ? `${job.media.frames} frame${job.media.frames === 1 ? "" : "s"}` : "no media");
      const bar = li.querySelector(".progress");
      if (job.state === "running" && job.progress && job.progress.total) {
        setProgress(bar, job.progress.done / job.progress.total, "");
      } else if (job.state === "queued" || job.state === "running") {
        setProgress(bar, null, "");
      } else {
        bar.hidden = true;
      }
      li.querySelector(".actions .cancel").hidden = !BUSY.includes(job.state);
      li.querySelector(".actions .delete").hidden = BUSY.includes(job.state) || !!upload;
      if (list.children[n] !== li) list.insertBefore(li, list.children[n] || null);
    });
    for (const [id, li] of jobItems) {
      if (!seen.has(id)) { li.remove(); jobItems.delete(id); }
    }
  }

  async function refreshJobs() {
    clearTimeout(S.pollTimer);
    try {
      const jobs = await api("GET", "/api/jobs");
      S.jobs = jobs;
      const id = S.selected;
      let detailError = null;
      if (id && jobs.some((j) => j.id === id)) {
        try {
          S.detail[id] = await api("GET", jobPath(id));
        } catch (err) {
          if (err.status !== 404) detailError = err;  // the list still updates; the job's problem is said
        }
      }
      onJobsChanged();
      if (detailError && S.lastDetailError !== detailError.message) showError(detailError);
      S.lastDetailError = detailError ? detailError.message : null;
    } catch (err) {
      if (err.status === 401 || err.status === 0 || err.status >= 500) showError(err);
    } finally {
      const busy = S.jobs.some((j) => BUSY.includes(j.state)) || Object.keys(S.uploads).length > 0;
      S.pollTimer = setTimeout(refreshJobs, busy ? 1000 : document.hidden ? 15000 : 5000);
    }
  }

  function onJobsChanged() {
    if (S.selected && !S.jobs.some((j) => j.id === S.selected)) S.selected = null;
    renderJobList();
    const job = currentJob();
    for (const j of S.jobs) {
      const before = S.lastState[j.id];
      if (j.id === S.selected && before && BUSY.includes(before) && !BUSY.includes(j.state)) {
        if (j.run && j.run.kind === "render") loadRenders(j.id);
      }
      S.lastState[j.id] = j.state;
    }
    renderPanel();
    if (job && S.lastUpdated[job.id] !== overlayVersion(job)) {
      S.lastUpdated[job.id] = overlayVersion(job);
      showFrame(S.frameOf[job.id] || 0);
    }
  }

  function replaceJob(job) {
    const i = S.jobs.findIndex((j) => j.id === job.id);
    if (i >= 0) S.jobs[i] = job; else S.jobs.push(job);
    S.detail[job.id] = job;
    onJobsChanged();
    // a run just started: poll fast
    clearTimeout(S.pollTimer);
    S.pollTimer = setTimeout(refreshJobs, 700);
  }

  function selectJob(id) {
    if (S.selected === id) return;
    S.selected = id;
    history.replaceState(null, "", `${window.location.pathname}${window.location.search}${id ? `#job=${id}` : ""}`);
    S.drag = null;
    renderJobList();
    renderPanel();
    layoutStage();
    if (id) {
      showFrame(S.frameOf[id] || 0);
      if (!S.renders[id]) loadRenders(id);
      if (!S.detail[id]) reloadJob(id);
    }
  }

  async function createJob(event) {
    event.preventDefault();
    const name = $("new-job-name").value.trim();
    $("new-job-btn").disabled = true;
    try {
      const job = await api("POST", "/api/jobs", { name });
      $("new-job-name").value = "";
      S.jobs.push(job);
      onJobsChanged();
      selectJob(job.id);
      clearError();
    } catch (err) {
      showError(err);
    } finally {
      $("new-job-btn").disabled = false;
    }
  }

  async function deleteJob(id) {
    const job = S.jobs.find((j) => j.id === id);
    if (!job) return;
    if (!window.confirm(`Delete "${jobName(job)}" and all its files (media, masks, renders)?`)) return;
    try {
      await api("DELETE", jobPath(id));
      S.jobs = S.jobs.filter((j) => j.id !== id);
      delete S.pending[id]; delete S.renders[id]; delete S.frameOf[id]; delete S.detail[id];
      if (S.selected === id) selectJob(null);
      onJobsChanged();
    } catch (err) {
      showError(err);
    }
  }

  async function cancelJob(id) {
    try {
      replaceJob(await api("POST", jobPath(id, "/cancel")));
    } catch (err) {
      showError(err);
    }
  }

  // ---- the right panel ----------------------------------------------------------------------
  function renderPanel() {
    const job = currentJob();
    $("no-job").hidden = !!job;
    $("job-panel").hidden = !job;
    $("job-title").textContent = job ? `${jobName(job)} · ${job.id}` : "";
    if (!job) {
      $("stage").hidden = true; $("transport").hidden = true; $("viewer-help").hidden = true;
      $("stage-empty").hidden = false;
      $("stage-empty-text").textContent = S.jobs.length ? "Select a job on the left." : "Make a new job on the left.";
      return;
    }
    const busy = BUSY.includes(job.state);
    const idle = IDLE.includes(job.state);
    const upload = S.uploads[job.id];

    // status
    const state = $("job-state");
    state.className = `state ${job.state}`;
    state.textContent = job.state;
    $("job-queue").textContent = job.state === "queued" ? progressText(job) : job.run && job.run.kind && !busy
      ? `last run: ${job.run.kind}${job.run.kind === "track" && job.run.engine ? ` (${job.run.engine})` : ""}` : "";
    const prog = $("job-progress");
    if (job.state === "running") {
      const p = job.progress || {};
      setProgress(prog, p.total ? p.done / p.total : null, progressText(job));
    } else if (job.state === "queued") {
      setProgress(prog, null, progressText(job));
    } else {
      prog.hidden = true;
    }
    const errorBox = $("job-error");
    errorBox.hidden = !job.error;
    errorBox.querySelector("strong").textContent = job.error || "";
    errorBox.querySelector(".hint").textContent = job.hint || "";
    const media = $("job-media");
    media.hidden = !job.media;
    media.replaceChildren();
    if (job.media) {
      const m = job.media;
      const first = m.frame_numbers ? m.frame_numbers[0] : 0;
      const last = m.frame_numbers ? m.frame_numbers[1] : m.frames - 1;
      const rows = [["media", m.name], ["size", `${m.width} × ${m.height}`], ["frames", `${m.frames} (${first}–${last})`],
        ["fps", m.fps], ["colour", m.colorspace || "—"]];
      for (const [k, v] of rows) media.append(el("dt", { text: k }), el("dd", { text: String(v), title: String(v) }));
    }
    $("resume-btn").hidden = job.state !== "interrupted";
    $("cancel-btn").hidden = !busy;
    $("delete-btn").disabled = busy || !!upload;

    // media
    $("media-card").hidden = !!job.media;
    $("media-input").disabled = !!upload;
    $("media-abort").hidden = !upload;
    const mediaProg = $("media-progress");
    if (upload) {
      setProgress(mediaProg, upload.phase === "open" ? null : upload.total ? upload.loaded / upload.total : 0,
        upload.phase === "open" ? `opening ${upload.label}…`
          : `${upload.label}: ${fmtBytes(upload.loaded)} of ${fmtBytes(upload.total)}`);
    } else {
      mediaProg.hidden = true;
    }

    // prompts
    const canEdit = !!job.media && idle;
    $("prompt-card").hidden = !job.media;
    $("ls-input").disabled = !canEdit;
    const tasks = S.lsTasks[job.id];
    $("ls-choose").hidden = !tasks;
    const select = $("ls-task");
    if (tasks && select.dataset.job !== job.id) {
      select.replaceChildren(...tasks.map((t, i) => el("option", { value: String(i), text: t.summary })));
      select.dataset.job = job.id;
    }
    $("ls-apply").disabled = !canEdit;
    $("ls-result").hidden = !S.lsNote[job.id];
    $("ls-result").textContent = S.lsNote[job.id] || "";
    const pending = S.pending[job.id] || [];
    const count = countPrompts(pending);
    const numbered = numbering(job) !== null;
    $("pending-summary").textContent = count
      ? `${count} prompt${count === 1 ? "" : "s"} placed, not sent yet (${describePending(job, pending)}).`
      : "Click or drag on the frame to place prompts for the named object.";
    $("prompt-undo").disabled = !count;
    $("prompt-clear").disabled = !count;
    $("prompt-send").disabled = !canEdit || !numbered || (!count && !$("obj-text").value.trim());
    const note = S.promptNote[job.id];
    const promptNote = $("prompt-note");
    if (!numbered && job.media) {
      promptNote.hidden = false;
      promptNote.className = "note warn";
      promptNote.textContent = "The frame numbers of this media are still loading; prompts can be sent in a moment.";
    } else {
      promptNote.hidden = !note;
      promptNote.className = note && note[1] ? "note warn" : "note";
      promptNote.textContent = note ? note[0] : "";
    }
    const names = $("obj-names");
    names.replaceChildren(...(job.objects || []).map((o) => el("option", { value: o.name })));

    // objects
    renderObjects(job);

    // track
    const hasPrompts = (job.objects || []).some((o) => o.keyframes.length || o.frames);
    $("track-card").hidden = !job.media;
    $("track-btn").disabled = !idle || !hasPrompts || !S.engines.length;
    $("track-btn").title = hasPrompts ? "" : "import a Label Studio export or send prompts first";

    // render
    const hasMasks = (job.objects || []).some((o) => o.frames > 0);
    $("render-card").hidden = !job.media;
    $("render-btn").disabled = !idle || !hasMasks || !chosenOutputs().length;
    $("render-btn").title = hasMasks ? "" : "propagate first: no object has masks yet";
    $("zip-mode").disabled = !chosenOutputs().includes("mask-zip");
    renderRenders(job.id);

    // viewer
    $("stage-empty").hidden = !!job.media;
    $("stage").hidden = !job.media;
    $("transport").hidden = !job.media;
    $("viewer-help").hidden = !job.media;
    if (!job.media) {
      $("stage-empty-text").textContent = upload ? "Uploading…" : "Upload the job's media on the right (or drop files here).";
    } else {
      const slider = $("frame-slider");
      const max = String(job.media.frames - 1);
      if (slider.max !== max) { slider.max = max; layoutStage(); }
    }
  }

  function renderObjects(job) {
    const list = $("object-list");
    const objects = job.objects || [];
    $("objects-card").hidden = !objects.length;
    list.replaceChildren();
    const total = job.media ? job.media.frames : 0;
    const current = $("obj-name").value.trim();
    for (const o of objects) {
      const keys = el("span", { class: "keys" });
      for (const k of o.keyframes.slice(0, 12)) {
        const number = frameNumber(job, k);
        keys.append(el("button", { title: "go to this keyframe", text: String(number === null ? `#${k}` : number),
          onclick: (e) => { e.stopPropagation(); showFrame(k); } }));
      }
      if (o.keyframes.length > 12) keys.append(el("span", { class: "muted", text: `+${o.keyframes.length - 12}` }));
      const li = el("li", { class: o.name === current ? "current" : "", title: "place prompts for this object",
        onclick: () => { $("obj-name").value = o.name; renderPanel(); drawPrompts(); } },
      el("span", { class: "swatch", style: `background:${rgb(o.color)}` }),
      el("div", { style: "flex:1;min-width:0" },
        el("div", { class: "oname", text: o.name }),
        el("div", { class: "ometa", text: `masks on ${o.frames}/${total} frames · keyframes:` }, " ", keys)));
      list.append(li);
    }
  }

  // ---- uploads --------------------------------------------------------------------------------
  async function uploadMedia(fileList) {
    const job = currentJob();
    const files = Array.from(fileList || []);
    $("media-input").value = "";  // picking the same file again fires "change" again
    if (!job || !files.length) return;
    if (job.media) { showError(new ApiError(409, "this job has its media already", "make a new job for other media")); return; }
    if (S.uploads[job.id]) return;
    const isImage = (f) => IMAGE_SUFFIXES.includes(suffixOf(f.name));
    if (files.length > 1 && !files.every(isImage)) {
      showError(new ApiError(400, "several files can only be the images of one sequence",
        `pick one video or ZIP, or only images (${IMAGE_SUFFIXES.join(", ")})`));
      return;
    }
    if (files.length === 1 && !MEDIA_SUFFIXES.includes(suffixOf(files[0].name))) {
      showError(new ApiError(400, `${files[0].name} is not a file type this server takes`,
        `upload one of: ${MEDIA_SUFFIXES.join(", ")}`));
      return;
    }
    clearError();
    const id = job.id;
    const total = files.reduce((s, f) => s + f.size, 0);
    const state = { label: files.length === 1 ? files[0].name : `${files.length} images`, loaded: 0, total, phase: "send",
      abort: null, stopped: false };
    S.uploads[id] = state;
    renderPanel(); renderJobList();
    try {
      let answer;
      if (files.length === 1) {
        const put = xhrPut(jobPath(id, `/media?name=${encodeURIComponent(files[0].name)}`), files[0], (loaded, size, done) => {
          state.loaded = loaded; state.phase = done ? "open" : "send";
          if (S.selected === id) renderPanel();
        });
        state.abort = put.abort;
        answer = await put.promise;
      } else {
        const sorted = [...files].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
        await api("DELETE", jobPath(id, "/images"));  // images left by a set that was stopped are not mixed in
        let before = 0;
        for (const f of sorted) {
          if (state.stopped) throw new ApiError(0, "the upload was stopped");
          const put = xhrPut(jobPath(id, `/images?name=${encodeURIComponent(f.name)}`), f, (loaded) => {
            state.loaded = before + Math.min(loaded, f.size);
            if (S.selected === id) renderPanel();
          });
          state.abort = put.abort;
          await put.promise;
          before += f.size;
        }
        state.phase = "open";
        if (S.selected === id) renderPanel();
        answer = await api("POST", jobPath(id, "/images/done"));
      }
      delete S.uploads[id];
      replaceJob(answer);
      if (S.selected === id) { layoutStage(); showFrame(0); }
    } catch (err) {
      delete S.uploads[id];
      showError(err);
      renderPanel();
    } finally {
      renderJobList();
    }
  }

  function stopUpload() {
    const upload = S.uploads[S.selected];
    if (!upload) return;
    upload.stopped = true;
    if (upload.abort) upload.abort();
  }

  async function uploadLabelStudio(fileList) {
    const job = currentJob();
    const file = fileList && fileList[0];
    $("ls-input").value = "";
    if (!job || !file) return;
    const id = job.id;
    clearError();
    delete S.lsTasks[id];
    delete S.lsNote[id];
    const prog = $("ls-progress");
    renderPanel();
    try {
      const put = xhrPut(jobPath(id, "/labelstudio"), file, (loaded, size, done) => {
        if (S.selected === id) setProgress(prog, done ? null : size ? loaded / size : 0,
          done ? `reading ${file.name}…` : `${file.name}: ${fmtBytes(loaded)} of ${fmtBytes(size)}`);
      });
      const answer = await put.promise;
      if (answer.imported) {
        S.lsNote[id] = describeImport(answer.imported);
        await reloadJob(id, true);
      } else {
        S.lsTasks[id] = answer.tasks;
        $("ls-task").dataset.job = "";
        S.lsNote[id] = `${answer.tasks.length} tasks in ${file.name}: choose the one for this media.`;
      }
    } catch (err) {
      showError(err);
    } finally {
      prog.hidden = true;
      renderPanel();
    }
  }

  async function applyLabelStudio() {
    const job = currentJob();
    const tasks = job && S.lsTasks[job.id];
    if (!tasks) return;
    const task = tasks[Number($("ls-task").value)];
    if (!task) return;
    $("ls-apply").disabled = true;
    try {
      const answer = await api("POST", jobPath(job.id, "/labelstudio/apply"), { task: task.id });
      delete S.lsTasks[job.id];
      S.lsNote[job.id] = describeImport(answer.imported);
      clearError();
      await reloadJob(job.id, true);
    } catch (err) {
      showError(err);
    } finally {
      renderPanel();
    }
  }

  function describeImport(imported) {
    const names = Object.keys(imported.objects || {});
    const skipped = Object.entries(imported.skipped || {}).map(([k, n]) => `${k} ×${n}`);
    return `Imported task ${imported.task}: ${names.length ? names.join(", ") : "no objects"}` +
      (skipped.length ? `; skipped ${skipped.join(", ")}` : "") + ".";
  }

  async function reloadJob(id, edited = false) {
    if (edited) S.bump[id] = (S.bump[id] || 0) + 1;
    try {
      replaceJob(await api("GET", jobPath(id)));
    } catch (err) {
      showError(err);
    }
  }

  // ---- the viewer -------------------------------------------------------------------------------
  const frameImg = $("frame-img");
  const overlayImg = $("overlay-img");
  const canvas = $("prompt-canvas");
  let stageScale = 1;      // CSS pixels per source pixel
  let requestWidth = null; // the ?width= asked for images (null: full size)

  function layoutStage() {
    const job = currentJob();
    if (!job || !job.media) return;
    const wrap = $("stage-wrap");
    const availW = Math.max(50, wrap.clientWidth - 2);
    const availH = Math.max(50, wrap.clientHeight - 2);
    const { width, height } = job.media;
    stageScale = Math.min(availW / width, availH / height);
    const w = Math.max(1, Math.floor(width * stageScale));
    const h = Math.max(1, Math.floor(height * stageScale));
    const stage = $("stage");
    stage.style.width = `${w}px`;
    stage.style.height = `${h}px`;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
    // ask for images as wide as shown (in steps, so a small resize does not reload them)
    const wanted = Math.max(64, Math.ceil((w * dpr) / 128) * 128);
    const newWidth = wanted >= width ? null : wanted;
    if (newWidth !== requestWidth) {
      requestWidth = newWidth;
      showFrame(S.frameOf[job.id] || 0);
    }
    drawPrompts();
  }

  function imageUrl(job, kind, index) {
    const ext = kind === "frames" ? "jpg" : "png";
    const params = new URLSearchParams();
    if (requestWidth) params.set("width", String(requestWidth));
    if (kind === "overlay") params.set("v", overlayVersion(job));  // masks changed: a new address
    const query = params.toString();
    return `${jobPath(job.id, `/${kind}/${index}.${ext}`)}${query ? `?${query}` : ""}`;
  }

  /** Changes when the job's masks may have: a run wrote (updated), objects or their frame
   * counts changed, or this page imported or sent something. */
  function overlayVersion(job) {
    const objects = (job.objects || []).map((o) => `${o.id}:${o.frames}:${o.keyframes.join(",")}`).join(";");
    let hash = 0;
    for (let i = 0; i < objects.length; i++) hash = (hash * 31 + objects.charCodeAt(i)) | 0;
    return `${Math.round(job.updated * 1000)}-${(hash >>> 0).toString(36)}-${S.bump[job.id] || 0}`;
  }

  function showFrame(index) {
    const job = currentJob();
    if (!job || !job.media) return;
    const last = job.media.frames - 1;
    index = Math.max(0, Math.min(last, Math.round(index)));
    S.frameOf[job.id] = index;
    const slider = $("frame-slider");
    if (String(slider.max) !== String(last)) slider.max = String(last);
    slider.value = String(index);
    const number = frameNumber(job, index);
    $("frame-label").textContent = number === null ? `index ${index} / ${last}`
      : `frame ${number} · ${index + 1}/${last + 1}`;
    const src = imageUrl(job, "frames", index);
    if (frameImg.getAttribute("src") !== src) {
      frameImg.dataset.want = String(index);
      frameImg.src = src;
    }
    const hasObjects = (job.objects || []).length > 0;
    if (hasObjects) {
      const src = imageUrl(job, "overlay", index);
      if (overlayImg.getAttribute("src") !== src) {
        overlayImg.dataset.want = String(index);
        overlayImg.src = src;
      }
      overlayImg.hidden = !$("show-masks").checked;
    } else {
      overlayImg.hidden = true;
      overlayImg.removeAttribute("src");
      delete overlayImg.dataset.loaded;
    }
    drawPrompts();
  }

  frameImg.addEventListener("load", () => { frameImg.dataset.loaded = frameImg.dataset.want || ""; });
  /** An image did not load: ask the same address again with fetch for the API's JSON error. */
  async function imageFailed(img) {
    const src = img.getAttribute("src");
    delete img.dataset.loaded;
    if (!src) return;
    try {
      const response = await fetch(src, { credentials: "same-origin" });
      if (!response.ok && img.getAttribute("src") === src) showError(errorFrom(response.status, await response.text()));
    } catch (_) {
      setOnline(false);
    }
  }
  frameImg.addEventListener("error", () => imageFailed(frameImg));
  overlayImg.addEventListener("load", () => { overlayImg.dataset.loaded = overlayImg.dataset.want || ""; });
  overlayImg.addEventListener("error", () => imageFailed(overlayImg));

  function step(delta) {
    const job = currentJob();
    if (!job || !job.media) return;
    showFrame((S.frameOf[job.id] || 0) + delta);
  }

  $("frame-slider").addEventListener("input", (e) => showFrame(Number(e.target.value)));
  $("prev-frame").addEventListener("click", () => step(-1));
  $("next-frame").addEventListener("click", () => step(1));
  $("show-masks").addEventListener("change", () => { overlayImg.hidden = !$("show-masks").checked || !overlayImg.src; });
  $("mask-opacity").addEventListener("input", (e) => { overlayImg.style.opacity = String(Number(e.target.value) / 100); });

  // ---- prompts ----------------------------------------------------------------------------------
  function countPrompts(pending) {
    return pending.reduce((s, p) => s + p.points.length + p.boxes.length, 0);
  }

  function describePending(job, pending) {
    const parts = [];
    for (const p of pending) {
      const n = p.points.length + p.boxes.length;
      if (!n) continue;
      const number = frameNumber(job, p.frame);
      parts.push(`${p.name} @ ${number === null ? `#${p.frame}` : number}: ${n}`);
    }
    return parts.join("; ");
  }

  function pendingFor(job, name, frame, create) {
    const list = S.pending[job.id] || (S.pending[job.id] = []);
    let entry = list.find((p) => p.name === name && p.frame === frame);
    if (!entry && create) {
      entry = { name, frame, points: [], boxes: [], order: [] };
      list.push(entry);
    }
    return entry;
  }

  function objectName(job) {
    let name = $("obj-name").value.trim();
    if (!name) {
      const objects = job.objects || [];
      name = objects.length === 1 ? objects[0].name : `object${objects.length + 1}`;
      $("obj-name").value = name;
    }
    return name;
  }

  function colourOf(job, name) {
    const obj = (job.objects || []).find((o) => o.name === name);
    return obj ? obj.color : PENDING_COLOUR;
  }

  function toSource(event) {
    const rect = canvas.getBoundingClientRect();
    const job = currentJob();
    const x = ((event.clientX - rect.left) / rect.width) * job.media.width;
    const y = ((event.clientY - rect.top) / rect.height) * job.media.height;
    return [x, y];
  }

  const round1 = (v) => Math.round(v * 10) / 10;

  function addPoint(job, x, y, positive) {
    const { width, height } = job.media;
    const px = round1(Math.min(Math.max(x, 0), width - 0.1));
    const py = round1(Math.min(Math.max(y, 0), height - 0.1));
    const entry = pendingFor(job, objectName(job), S.frameOf[job.id] || 0, true);
    entry.points.push([px, py, positive]);
    entry.order.push("p");
  }

  function addBox(job, a, b) {
    const { width, height } = job.media;
    const clampX = (v) => round1(Math.min(Math.max(v, 0), width));
    const clampY = (v) => round1(Math.min(Math.max(v, 0), height));
    const box = [clampX(Math.min(a[0], b[0])), clampY(Math.min(a[1], b[1])), clampX(Math.max(a[0], b[0])),
      clampY(Math.max(a[1], b[1]))];
    if (box[2] - box[0] < 2 || box[3] - box[1] < 2) return false;
    const entry = pendingFor(job, objectName(job), S.frameOf[job.id] || 0, true);
    entry.boxes.push(box);
    entry.order.push("b");
    return true;
  }

  function undoPrompt() {
    const job = currentJob();
    const list = job && S.pending[job.id];
    if (!list || !list.length) return;
    // the last entry placed on this frame, else the last one anywhere
    const frame = S.frameOf[job.id] || 0;
    const here = list.filter((p) => p.frame === frame && p.order.length);
    const entry = here.length ? here[here.length - 1] : [...list].reverse().find((p) => p.order.length);
    if (!entry) return;
    const kind = entry.order.pop();
    if (kind === "p") entry.points.pop(); else entry.boxes.pop();
    S.pending[job.id] = list.filter((p) => p.order.length);
    drawPrompts();
    renderPanel();
  }

  function clearPrompts() {
    const job = currentJob();
    if (!job) return;
    delete S.pending[job.id];
    delete S.promptNote[job.id];
    drawPrompts();
    renderPanel();
  }

  async function sendPrompts() {
    const job = currentJob();
    if (!job || !job.media) return;
    const number = numbering(job);
    if (number === null) return;
    const text = $("obj-text").value.trim();
    if (text) {
      const entry = pendingFor(job, objectName(job), S.frameOf[job.id] || 0, true);
      entry.text = text;
    }
    const pending = (S.pending[job.id] || []).filter((p) => p.points.length || p.boxes.length || p.text);
    if (!pending.length) return;
    const byName = new Map();
    for (const p of pending) {
      const key = { frame: number(p.frame) };
      if (p.points.length) key.points = p.points.map(([x, y, pos]) => (pos ? [x, y] : [x, y, false]));
      if (p.boxes.length) key.boxes = p.boxes.map((b) => [...b]);
      if (p.text) key.text = p.text;
      if (!byName.has(p.name)) byName.set(p.name, []);
      byName.get(p.name).push(key);
    }
    const body = { objects: [...byName].map(([name, keyframes]) => ({ name, keyframes })) };
    $("prompt-send").disabled = true;
    try {
      const answer = await api("POST", jobPath(job.id, "/prompts"), body);
      delete S.pending[job.id];
      $("obj-text").value = "";
      const frames = pending.length;
      S.promptNote[job.id] = [`Sent ${Object.keys(answer.objects || {}).length || byName.size} object(s) on ` +
        `${frames} keyframe${frames === 1 ? "" : "s"}. Propagate to track them.`, false];
      clearError();
      await reloadJob(job.id, true);
    } catch (err) {
      for (const p of pending) delete p.text;
      showError(err);
    } finally {
      drawPrompts();
      renderPanel();
    }
  }

  function drawPrompts() {
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const job = currentJob();
    if (!job || !job.media) return;
    const frame = S.frameOf[job.id] || 0;
    const sx = canvas.width / job.media.width;
    const sy = canvas.height / job.media.height;
    const dpr = window.devicePixelRatio || 1;
    const current = $("obj-name").value.trim();
    for (const p of S.pending[job.id] || []) {
      if (p.frame !== frame) continue;
      const c = colourOf(job, p.name);
      const strong = p.name === current;
      ctx.globalAlpha = strong ? 1 : 0.6;
      for (const b of p.boxes) {
        const [x, y, w, h] = [b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy];
        ctx.setLineDash([]);
        ctx.strokeStyle = "rgba(0, 0, 0, 0.8)";  // a dark edge keeps the box visible over its own mask
        ctx.lineWidth = 4 * dpr;
        ctx.strokeRect(x, y, w, h);
        ctx.strokeStyle = rgb(c);
        ctx.lineWidth = 2 * dpr;
        ctx.strokeRect(x, y, w, h);
        ctx.font = `${11 * dpr}px sans-serif`;
        const tw = ctx.measureText(p.name).width + 8 * dpr;
        const ty = y >= 16 * dpr ? y - 16 * dpr : y;
        ctx.fillStyle = "rgba(0, 0, 0, 0.7)";
        ctx.fillRect(x, ty, tw, 16 * dpr);
        ctx.fillStyle = rgb(c);
        ctx.fillText(p.name, x + 4 * dpr, ty + 12 * dpr);
      }
      for (const [x, y, pos] of p.points) {
        const r = 6 * dpr;
        ctx.beginPath();
        ctx.arc(x * sx, y * sy, r, 0, Math.PI * 2);
        ctx.fillStyle = pos ? rgb(c) : "#e5534b";
        ctx.fill();
        ctx.lineWidth = 1.5 * dpr;
        ctx.strokeStyle = "#000";
        ctx.stroke();
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 2 * dpr;
        ctx.beginPath();
        ctx.moveTo(x * sx - r * 0.55, y * sy);
        ctx.lineTo(x * sx + r * 0.55, y * sy);
        if (pos) { ctx.moveTo(x * sx, y * sy - r * 0.55); ctx.lineTo(x * sx, y * sy + r * 0.55); }
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
    if (S.drag && S.drag.moved) {
      const [ax, ay] = S.drag.start;
      const [bx, by] = S.drag.end;
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1.5 * dpr;
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.strokeRect(Math.min(ax, bx) * sx, Math.min(ay, by) * sy, Math.abs(bx - ax) * sx, Math.abs(by - ay) * sy);
      ctx.setLineDash([]);
    }
  }

  function canPlace() {
    const job = currentJob();
    if (!job || !job.media) return false;
    if (!IDLE.includes(job.state)) {
      showError(new ApiError(409, `the job is ${job.state}: prompts can be placed when its run ends`,
        "wait for it or cancel it"));
      return false;
    }
    if (numbering(job) === null) {
      showError(new ApiError(400, "the frame numbers of this media are still loading",
        "place the prompts again in a moment"));
      return false;
    }
    return true;
  }

  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 && e.button !== 2) return;
    canvas.focus();
    if (!canPlace()) return;
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    const start = toSource(e);
    S.drag = { start, end: start, clientX: e.clientX, clientY: e.clientY, button: e.button, shift: e.shiftKey,
      moved: false, pointerId: e.pointerId };
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!S.drag || e.pointerId !== S.drag.pointerId) return;
    S.drag.end = toSource(e);
    if (Math.hypot(e.clientX - S.drag.clientX, e.clientY - S.drag.clientY) > 4) S.drag.moved = true;
    if (S.drag.moved) drawPrompts();
  });
  canvas.addEventListener("pointerup", (e) => {
    const drag = S.drag;
    if (!drag || e.pointerId !== drag.pointerId) return;
    S.drag = null;
    const job = currentJob();
    if (!job) return;
    drag.end = toSource(e);
    if (drag.moved && drag.button === 0) {
      addBox(job, drag.start, drag.end);
    } else if (!drag.moved) {
      addPoint(job, drag.start[0], drag.start[1], !(drag.shift || e.shiftKey || drag.button === 2));
    }
    delete S.promptNote[job.id];
    drawPrompts();
    renderPanel();
  });
  canvas.addEventListener("pointercancel", () => { S.drag = null; drawPrompts(); });

  // ---- runs -------------------------------------------------------------------------------------
  async function loadEngines() {
    try {
      S.engines = await api("GET", "/api/engines");
    } catch (err) {
      showError(err);
      return;
    }
    const select = $("engine");
    select.replaceChildren(...S.engines.map((e) => el("option", { value: e.name, text: e.label || e.name })));
    if (S.engines.some((e) => e.name === "classic")) select.value = "classic";
    renderPanel();
  }

  async function startTrack() {
    const job = currentJob();
    if (!job) return;
    $("track-btn").disabled = true;
    delete S.promptNote[job.id];
    delete S.lsNote[job.id];
    try {
      replaceJob(await api("POST", jobPath(job.id, "/track"),
        { engine: $("engine").value, direction: $("direction").value, mode: $("track-mode").value }));
      clearError();
    } catch (err) {
      showError(err);
      renderPanel();
    }
  }

  async function resumeJob() {
    const job = currentJob();
    if (!job) return;
    try {
      replaceJob(await api("POST", jobPath(job.id, "/resume")));
      clearError();
    } catch (err) {
      showError(err);
    }
  }

  // ---- render and download ------------------------------------------------------------------------
  function buildOutputs() {
    const box = $("outputs");
    for (const [group, items] of OUTPUTS) {
      box.append(el("div", { class: "group", text: group }));
      for (const [id, label, desc, checked] of items) {
        box.append(el("label", { title: id },
          el("input", { type: "checkbox", value: id, checked, onchange: () => renderPanel() }),
          el("span", { text: label }), desc ? el("span", { class: "desc", text: desc }) : null));
      }
    }
  }
  function chosenOutputs() {
    return [...$("outputs").querySelectorAll("input[type=checkbox]:checked")].map((i) => i.value);
  }

  async function startRender() {
    const job = currentJob();
    if (!job) return;
    const body = { outputs: chosenOutputs(), zip_mode: $("zip-mode").value, bit_depth: Number($("bit-depth").value) };
    const name = $("render-name").value.trim();
    if (name) body.name = name;
    const start = $("start-frame").value.trim();
    if (start) {
      if (!/^-?\d+$/.test(start)) { showError(new ApiError(400, "the start frame must be a whole number")); return; }
      body.start_frame = Number(start);
    }
    $("render-btn").disabled = true;
    try {
      replaceJob(await api("POST", jobPath(job.id, "/render"), body));
      clearError();
    } catch (err) {
      showError(err);
      renderPanel();
    }
  }

  async function loadRenders(id) {
    try {
      S.renders[id] = await api("GET", jobPath(id, "/renders"));
    } catch (err) {
      if (err.status !== 404) showError(err);
      return;
    }
    if (id === S.selected) renderRenders(id);
  }

  function downloadLink(jobId, version, path) {
    const href = jobPath(jobId, `/renders/${encodeURIComponent(version)}/${path.split("/").map(encodeURIComponent).join("/")}`);
    return el("a", { href, download: path.split("/").pop(), class: "download", "data-path": path, text: path.split("/").pop() });
  }

  function renderRenders(id) {
    const box = $("render-list");
    const versions = S.renders[id] || [];
    $("renders-empty").hidden = versions.length > 0;
    const key = JSON.stringify(versions);
    if (box.dataset.key === `${id}:${key}`) return;  // unchanged: keep open <details>
    box.dataset.key = `${id}:${key}`;
    box.replaceChildren();
    for (const v of [...versions].reverse()) {
      // top-level files one per line; folders and long sequences folded
      const groups = new Map();
      const singles = [];
      for (const f of v.files) {
        const slash = f.indexOf("/");
        const seq = /^(.*)\.\d+\.([A-Za-z0-9]+)$/.exec(f);
        const group = slash >= 0 ? `${f.slice(0, slash)}/` : seq ? `${seq[1]}.####.${seq[2]}` : null;
        if (group === null) singles.push(f);
        else { if (!groups.has(group)) groups.set(group, []); groups.get(group).push(f); }
      }
      const ul = el("ul");
      for (const f of singles) ul.append(el("li", {}, downloadLink(id, v.version, f)));
      for (const [group, files] of groups) {
        if (files.length < 3 && !group.endsWith("/")) {
          for (const f of files) ul.append(el("li", {}, downloadLink(id, v.version, f)));
          continue;
        }
        const inner = el("ul");
        for (const f of files) inner.append(el("li", {}, downloadLink(id, v.version, f)));
        ul.append(el("li", {}, el("details", {}, el("summary", { text: `${group} (${files.length} files)` }), inner)));
      }
      box.append(el("div", { class: "render-version", "data-version": v.version },
        el("div", { class: "vhead" }, el("span", { text: v.version }),
          el("span", { class: "muted small", text: `${v.files.length} file${v.files.length === 1 ? "" : "s"}` })), ul));
    }
  }

  // ---- wiring -------------------------------------------------------------------------------------
  $("new-job").addEventListener("submit", createJob);
  $("media-input").addEventListener("change", (e) => uploadMedia(e.target.files));
  $("media-abort").addEventListener("click", stopUpload);
  $("ls-input").addEventListener("change", (e) => uploadLabelStudio(e.target.files));
  $("ls-apply").addEventListener("click", applyLabelStudio);
  $("prompt-undo").addEventListener("click", undoPrompt);
  $("prompt-clear").addEventListener("click", clearPrompts);
  $("prompt-send").addEventListener("click", sendPrompts);
  $("obj-name").addEventListener("input", () => { drawPrompts(); renderObjects(currentJob() || {}); });
  $("obj-text").addEventListener("input", () => renderPanel());
  $("track-btn").addEventListener("click", startTrack);
  $("render-btn").addEventListener("click", startRender);
  $("resume-btn").addEventListener("click", resumeJob);
  $("cancel-btn").addEventListener("click", () => S.selected && cancelJob(S.selected));
  $("delete-btn").addEventListener("click", () => S.selected && deleteJob(S.selected));

  // drop media files on the viewer
  const wrap = $("stage-wrap");
  wrap.addEventListener("dragover", (e) => {
    const job = currentJob();
    if (job && !job.media && e.dataTransfer && [...e.dataTransfer.types].includes("Files")) {
      e.preventDefault();
      wrap.classList.add("drop");
    }
  });
  wrap.addEventListener("dragleave", () => wrap.classList.remove("drop"));
  wrap.addEventListener("drop", (e) => {
    wrap.classList.remove("drop");
    const job = currentJob();
    if (!job || job.media || !e.dataTransfer) return;
    e.preventDefault();
    uploadMedia(e.dataTransfer.files);
  });

  document.addEventListener("keydown", (e) => {
    const t = e.target;
    const typing = t instanceof HTMLElement && (t.tagName === "TEXTAREA" || t.tagName === "SELECT" ||
      (t.tagName === "INPUT" && t.type !== "range" && t.type !== "checkbox" && t.type !== "file"));
    if (typing) return;
    if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
      e.preventDefault();
      step((e.key === "ArrowLeft" ? -1 : 1) * (e.shiftKey ? 10 : 1));
    } else if (e.key === "Home") {
      e.preventDefault(); showFrame(0);
    } else if (e.key === "End") {
      e.preventDefault(); showFrame(Number.MAX_SAFE_INTEGER);
    } else if ((e.key === "z" || e.key === "Z") && (e.ctrlKey || e.metaKey)) {
      e.preventDefault(); undoPrompt();
    } else if ((e.key === "m" || e.key === "M") && !e.ctrlKey && !e.metaKey && !e.altKey) {
      $("show-masks").checked = !$("show-masks").checked;
      $("show-masks").dispatchEvent(new Event("change"));
    }
  });

  new ResizeObserver(() => layoutStage()).observe(wrap);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshJobs(); });

  // ---- start --------------------------------------------------------------------------------------
  buildOutputs();
  const fromHash = /(?:^#|&)job=([0-9a-f]{12})/.exec(window.location.hash);
  loadEngines();
  refreshJobs().then(() => {
    if (fromHash && S.jobs.some((j) => j.id === fromHash[1])) selectJob(fromHash[1]);
  });
})();
