// nnlab's browser client, shared by the test page and the class dashboard: where the server
// is (relative to the page, so it works at the root and behind a path prefix such as
// Jupyter's /proxy/8000/), the page's ?token=, REST calls and a minimal Socket.IO client.
(function (global) {
  "use strict";
  // "/", "/proxy/8000/", "/user/x/proxy/8000/": everything is relative to the page's folder.
  var base = global.location.pathname.replace(/[^/]*$/, "");
  // A server with a token is opened as page?token=...: REST calls send it as
  // Authorization: Bearer, the Socket.IO connection as auth: {token}.
  var token = new URLSearchParams(global.location.search).get("token");

  // ---------------------------------------------------------------- a minimal Socket.IO client
  // Engine.IO v4 packets over the browser's WebSocket: 0 open, 1 close, 2 ping, 3 pong, 4 message.
  // Socket.IO v5 packets inside messages: 0 connect, 1 disconnect, 2 event, 4 connect error.
  // handlers: state(state, detail), log(kind, text), event(name, data) and optionally
  // auth() -> extra fields of the CONNECT's auth (e.g. {since: {job_id: last epoch seen}}),
  // asked again at every (re)connection.
  function SocketIO(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.id = null;
    this.connected = false;
    this.delay = 500;
    this.stopped = false;
    this.pingTimer = null;
    this.retryTimer = null;
  }
  SocketIO.prototype.url = function () {
    var scheme = global.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + global.location.host + base + "socket.io/?EIO=4&transport=websocket";
  };
  SocketIO.prototype.open = function () {
    var self = this;
    clearTimeout(this.retryTimer);
    this.stopped = false;
    this.handlers.state("connecting");
    var ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onmessage = function (msg) { if (self.ws === ws) self.onEngine(String(msg.data)); };
    ws.onclose = function () { if (self.ws === ws) self.lost("connection closed"); };
    ws.onerror = function () { if (self.ws === ws) self.handlers.log("error", "WebSocket error"); };
  };
  SocketIO.prototype.connectPacket = function () {
    var auth = this.handlers.auth ? this.handlers.auth() || {} : {};
    if (token) auth.token = token;
    return Object.keys(auth).length ? "40" + JSON.stringify(auth) : "40";
  };
  SocketIO.prototype.onEngine = function (data) {
    var type = data.charAt(0), body = data.slice(1);
    if (type === "0") {                      // handshake: ask to join the default namespace
      this.heartbeat = JSON.parse(body);
      this.armPing();
      this.ws.send(this.connectPacket());
    } else if (type === "2") {               // ping: answer at once
      this.armPing();
      this.ws.send("3");
    } else if (type === "4") {
      this.onSocket(body);
    } else if (type === "1") {
      this.lost("server closed the connection");
    }
  };
  SocketIO.prototype.onSocket = function (data) {
    var type = data.charAt(0), rest = data.slice(1);
    if (rest.charAt(0) === "/") {            // a namespace other than "/": not ours
      return;
    }
    var json = rest.replace(/^\d+/, "");      // drop an ack id if any
    if (type === "0") {
      this.id = JSON.parse(json).sid;
      this.connected = true;
      this.delay = 500;
      this.handlers.state("connected");
    } else if (type === "2") {
      var args = JSON.parse(json);
      this.handlers.event(args[0], args[1]);
    } else if (type === "1") {
      this.lost("server disconnected this client");
    } else if (type === "4") {
      this.connectError = JSON.parse(json);
      this.handlers.log("error", "connect error: " + json);
      this.stopped = true;                   // refused (e.g. a missing token): retrying cannot help
      this.lost(this.connectError.message || "connection refused");
    }
  };
  SocketIO.prototype.armPing = function () {
    // The server pings every pingInterval ms; silence for longer than that plus pingTimeout
    // means the link is dead even if the WebSocket has not noticed.
    var self = this, h = this.heartbeat || { pingInterval: 25000, pingTimeout: 20000 };
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(function () { self.lost("ping timeout"); }, h.pingInterval + h.pingTimeout);
  };
  SocketIO.prototype.lost = function (reason) {
    var self = this, ws = this.ws;
    this.ws = null;
    this.connected = false;
    this.id = null;
    clearTimeout(this.pingTimer);
    if (ws) { try { ws.close(); } catch (e) { /* already closed */ } }
    if (this.stopped) { this.handlers.state("disconnected", reason); return; }
    var wait = this.delay;
    this.delay = Math.min(this.delay * 2, 5000);
    this.handlers.state("disconnected", reason + "; retrying in " + (wait / 1000) + " s");
    this.retryTimer = setTimeout(function () { self.open(); }, wait);
  };
  SocketIO.prototype.close = function () {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    if (this.ws) { try { this.ws.send("41"); } catch (e) { /* not open */ } }
    this.lost("closed by you");
  };

  // ---------------------------------------------------------------- REST
  // api("GET", "api/jobs") -> a promise of the JSON answer; a 4xx/5xx rejects with
  // "status [field]: error" from the server's {"error", "field"} body.
  function api(method, path, body) {
    var init = { method: method, headers: {} };
    if (token) init.headers["Authorization"] = "Bearer " + token;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(base + path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
        if (!response.ok) {
          var where = data && data.field ? " [" + data.field + "]" : "";
          throw new Error(response.status + where + ": " + (data && data.error ? data.error : response.statusText));
        }
        return data;
      });
    });
  }

  // A link to another page of the server that keeps this page's ?token=.
  function pageUrl(name) {
    return name + (token ? "?token=" + encodeURIComponent(token) : "");
  }

  global.nnlab = { base: base, token: token, SocketIO: SocketIO, api: api, pageUrl: pageUrl };
})(window);
