/* Live pages: follow what a page shows over /ws/notifications/, and poll its JSON API while
   the socket is down or absent, so that a page never stays on a stale state.

   An element with data-live-model/-id/-url is followed. data-live-mode="apply" updates a job
   page in place from the job's representation; "reload" reloads the page once the followed
   object's status differs from data-live-status (a preflight or scratch org finishing);
   "job" reads the caller's orgs and opens the job page once one of them runs a job. */
(function () {
  "use strict";

  var FINAL = ["complete", "failed", "canceled"];
  var POLL_MS = 2000;
  var MAX_RECONNECT_MS = 10000;
  var EVENT_MODELS = {
    TASK_COMPLETED: "job", JOB_STARTED: "job", JOB_COMPLETED: "job", JOB_FAILED: "job",
    JOB_CANCELED: "job", PREFLIGHT_COMPLETED: "preflightresult",
    PREFLIGHT_FAILED: "preflightresult", PREFLIGHT_CANCELED: "preflightresult",
    PREFLIGHT_INVALIDATED: "preflightresult", PREFLIGHT_STARTED: "scratchorg",
    SCRATCH_ORG_CREATED: "scratchorg", SCRATCH_ORG_UPDATED: "scratchorg",
    SCRATCH_ORG_ERROR: "scratchorg", SCRATCH_ORG_DELETED: "scratchorg",
    USER_TOKEN_INVALID: "user", BACKEND_ERROR: "user"
  };

  /* Logs and messages arrive HTML-escaped; shown as text, never as markup. */
  function decode(text) {
    var doc = new DOMParser().parseFromString("<!doctype html><body>" + (text || ""), "text/html");
    return doc.body.textContent || "";
  }

  function isFinal(status) { return FINAL.indexOf(status) !== -1; }

  /* A state as the page's language reads it (the server's labels, in the page). */
  var labels = null;
  function label(state) {
    if (labels === null) {
      var source = document.getElementById("state-labels");
      try { labels = source ? JSON.parse(source.textContent) : {}; } catch (error) { labels = {}; }
    }
    return labels[state] || state;
  }

  /* The same rule as plandeploy/web/presenters.py step_state. */
  function stepState(jobStatus, selected, entry) {
    if (!selected) { return "skipped"; }
    if (entry && entry.status) {
      return (entry.status === "skip" || entry.status === "skipped") ? "skipped" : entry.status;
    }
    if (jobStatus === "started") { return entry ? "running" : "waiting"; }
    return jobStatus === "canceled" ? "canceled" : "waiting";
  }

  function applyJob(root, data) {
    var status = root.querySelector("#job-status");
    status.textContent = label(data.status);
    status.className = "status-badge status-" + data.status;
    var selected = {};
    (data.steps || []).forEach(function (id) { selected[id] = true; });
    var results = data.results || {};
    root.querySelectorAll("[data-step-id]").forEach(function (item) {
      var id = item.getAttribute("data-step-id");
      var entries = results[id];
      var entry = (entries && entries.length && typeof entries[0] === "object") ? entries[0] : null;
      var state = stepState(data.status, !!selected[id], entry);
      item.className = "job-step state-" + state;
      item.querySelector("[data-role=state]").textContent = label(state);
      var message = item.querySelector("[data-role=message]");
      message.textContent = entry && entry.message ? decode(entry.message) : "";
      message.hidden = !(entry && entry.message);
      if (entry && entry.logs) {
        item.querySelector("[data-role=log]").textContent = decode(entry.logs);
        item.querySelector("[data-role=log-box]").hidden = false;
      }
    });
    var org = root.querySelector("#job-org");
    if (org && (data.org_name || data.org_id)) {
      org.textContent = (data.org_name || "") + (data.org_id ? " (" + data.org_id + ")" : "");
    }
    FINAL.forEach(function (name) {
      var box = document.getElementById("job-final-" + name);
      if (box) { box.hidden = data.status !== name; }
    });
    // Markdown rendered by the server (raw HTML escaped there), as on the first render.
    if (data.status === "complete") {
      document.getElementById("job-final-complete").innerHTML = data.message || "";
    }
    if (isFinal(data.status)) {
      var cancel = document.getElementById("cancel-form");
      if (cancel) { cancel.remove(); }
      var banner = document.getElementById("running-job-banner");
      if (banner && banner.getAttribute("data-job-id") === data.id) { banner.hidden = true; }
      root.setAttribute("data-live-status", data.status);
      root.setAttribute("data-ended-at", data.edited_at || "");
    }
    if (!root.getAttribute("data-started-at") && data.enqueued_at) {
      root.setAttribute("data-started-at", data.enqueued_at);
    }
    tickElapsed(root);
  }

  function tickElapsed(root) {
    var begun = Date.parse(root.getAttribute("data-started-at") || "");
    var out = root.querySelector("#job-elapsed");
    if (!out || isNaN(begun)) { return; }
    var ended = Date.parse(root.getAttribute("data-ended-at") || "");
    if (isFinal(root.getAttribute("data-live-status")) && isNaN(ended)) { return; }
    var until = isNaN(ended) ? Date.now() : ended;
    out.textContent = Math.max(0, Math.round((until - begun) / 1000)) + " s";
  }

  function Follower(root) {
    this.root = root;
    this.model = root.getAttribute("data-live-model");
    this.id = root.getAttribute("data-live-id");
    this.url = root.getAttribute("data-live-url");
    this.mode = root.getAttribute("data-live-mode");
    this.initial = root.getAttribute("data-live-status");
    this.timer = null;
    this.done = this.mode === "apply" && isFinal(this.initial);
  }

  // A scratch org is followed through the session cookie the socket carries: its uuid (the
  // org's only credential) is never put in the page, where any script or copy could read it.
  Follower.prototype.subscription = function () {
    return { model: this.model, id: this.id };
  };

  Follower.prototype.handle = function (data) {
    if (this.mode === "job") { this.openStartedJob(data); return; }
    if (!data || !data.status) { return; }
    if (this.mode === "reload") {
      if (data.status !== this.initial) { this.done = true; window.location.reload(); }
      return;
    }
    applyJob(this.root, data);
    if (isFinal(data.status)) { this.done = true; this.stopPolling(); }
  };

  /* For /api/orgs/: go to the job page as soon as one of the caller's orgs runs a job. */
  Follower.prototype.openStartedJob = function (orgs) {
    var self = this;
    Object.keys(orgs || {}).forEach(function (orgId) {
      var job = orgs[orgId].current_job;
      if (job && !self.done) {
        self.done = true;
        window.location.assign("/products/" + encodeURIComponent(job.product_slug) + "/" +
          encodeURIComponent(job.version_label) + "/" + encodeURIComponent(job.plan_slug) +
          "/jobs/" + encodeURIComponent(job.id) + "/");
      }
    });
  };

  Follower.prototype.refresh = function () {
    var self = this;
    if (self.done) { return; }
    fetch(self.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { self.handle(data); })
      .catch(function () { /* the next poll or event tries again */ });
  };

  Follower.prototype.startPolling = function () {
    var self = this;
    if (self.done || self.timer) { return; }
    self.timer = window.setInterval(function () { self.refresh(); }, POLL_MS);
    self.refresh();
  };

  Follower.prototype.stopPolling = function () {
    if (this.timer) { window.clearInterval(this.timer); this.timer = null; }
  };

  Follower.prototype.onEvent = function (message) {
    var payload = message.payload;
    var usable = this.mode === "apply" && payload && payload.id === this.id &&
      payload.status && payload.results !== undefined;
    if (usable) { this.handle(payload); } else { this.refresh(); }
  };

  /* One socket per page for every subscription; polling covers each gap in it. */
  function Live(followers, userId) {
    this.followers = followers;
    this.userId = userId;
    this.delay = 1000;
    this.socket = null;
    this.subscribed = false;  // every subscription of the current socket confirmed
    this.reconnected = false;  // true from the second socket on
  }

  Live.prototype.subscriptions = function () {
    var list = this.followers.filter(function (f) { return !f.done; })
      .map(function (f) { return f.subscription(); });
    if (this.userId) { list.push({ model: "user", id: this.userId }); }
    return list;
  };

  /* After a reconnect: a USER_TOKEN_INVALID sent while the socket was down has been missed,
     so compare the org connection the page shows with the user's as it is now. */
  Live.prototype.checkConnection = function () {
    var shown = document.body.getAttribute("data-org-connection");
    if (!shown) { return; }
    fetch("/api/user/", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (user) {
        if (user && (user.valid_token_for ? "ok" : "lost") !== shown) {
          window.location.reload();
        }
      })
      .catch(function () { /* the next reconnect checks again */ });
  };

  Live.prototype.pollAll = function () {
    this.followers.forEach(function (f) { f.startPolling(); });
  };

  Live.prototype.connect = function () {
    var self = this;
    self.pollAll();
    if (!window.WebSocket || !self.subscriptions().length) { return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + "/ws/notifications/");
    } catch (error) {
      return;
    }
    self.socket = socket;
    var confirmed = 0;
    socket.onopen = function () {
      self.delay = 1000;
      self.subscriptions().forEach(function (s) { socket.send(JSON.stringify(s)); });
    };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      if (message.ok) {
        confirmed += 1;
        if (confirmed >= self.subscriptions().length) {
          self.subscribed = true;
          // Subscribed: events take over from polling, after one read to catch up on
          // whatever changed while the socket was down.
          self.followers.forEach(function (f) { f.stopPolling(); f.refresh(); });
          if (self.reconnected) { self.checkConnection(); }
          self.reconnected = true;
        }
        return;
      }
      if (message.error) { return; }
      var model = EVENT_MODELS[message.type];
      if (model === "user") {
        var banner = document.getElementById("backend-error-banner");
        if (message.type === "BACKEND_ERROR" && banner) { banner.hidden = false; }
        if (message.type === "USER_TOKEN_INVALID") { window.location.reload(); }
        return;
      }
      self.followers.forEach(function (f) {
        if (!model || f.model === model || (model === "job" && f.model === "scratchorg")) {
          f.onEvent(message);
        }
      });
    };
    socket.onclose = function () {
      self.socket = null;
      self.subscribed = false;
      if (!self.followers.some(function (f) { return !f.done; }) && !self.userId) { return; }
      self.pollAll();
      window.setTimeout(function () { self.connect(); }, self.delay);
      self.delay = Math.min(self.delay * 2, MAX_RECONNECT_MS);
    };
  }

  function setupCopyButtons() {
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = document.querySelector(button.getAttribute("data-copy"));
        if (!input) { return; }
        input.select();
        var copied = navigator.clipboard ? navigator.clipboard.writeText(input.value)
          : Promise.resolve(document.execCommand("copy"));
        copied.then(function () { button.textContent = button.getAttribute("data-copied") || "Copied"; })
          .catch(function () { /* the text stays selected for a manual copy */ });
      });
    });
  }

  function start() {
    setupCopyButtons();
    var followers = [];
    document.querySelectorAll("[data-live-model]").forEach(function (root) {
      followers.push(new Follower(root));
    });
    var jobRoot = document.getElementById("job");
    if (jobRoot) {
      window.setInterval(function () { tickElapsed(jobRoot); }, 1000);
    }
    var live = new Live(followers, document.body.getAttribute("data-user-id"));
    window.plandeployLive = live;
    live.connect();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
