/* The guard page: a guard phone (or a computer with a USB QR reader) scans personal codes.
   Sign in with the staff phone and the code sent to it (a session cookie), or log a bound
   device in once with its id and token; scan with the camera or the reader field. A scan
   that cannot be sent now is kept on this device and sent again, same event id. A guard
   also gives enrolment codes to people with no phone number on record, after checking
   their card against an ID. Every accepted scan shows the person's health declaration status
   (a word and a colour); after it the guard may declare for that person. */
"use strict";

(function () {
  var R = Ravao, el = R.el;
  var CREDENTIALS = "ravao.guard.credentials", DEVICE = "ravao.guard.device", PENDING = "ravao.guard.pending";
  var credentials = load(CREDENTIALS), device = load(DEVICE);
  var direction = "auto", camera = null, flushing = false;
  var declareFor = null;  // the personal code of the last accepted scan, in memory only
  var TITLES = { "in": ["VÀO", "In"], "out": ["RA", "Out"], "auto": ["ĐÃ GHI NHẬN", "Recorded"] };
  var MODES = { entry: ["Cổng vào", "Entry gate"], exit: ["Cổng ra", "Exit gate"] };

  function load(key) { try { return JSON.parse(localStorage.getItem(key)); } catch (e) { return null; } }
  function save(key, value) { localStorage.setItem(key, JSON.stringify(value)); }
  function pendingScans() { return load(PENDING) || []; }

  function showLogin(message) {
    R.show("scanner", false);
    R.show("login", true);
    if (message) { el("login-error").textContent = message; R.show("login-error", true); }
    el("staff-phone").focus();
  }

  function showScanner() {
    R.show("login", false);
    R.show("scanner", true);
    el("venue-name").textContent = device && device.venue_name ? device.venue_name : "";
    var fixed = device && MODES[device.mode];
    R.show("direction", !fixed);
    R.show("mode-fixed", !!fixed);
    if (fixed) R.setBilingual(el("mode-fixed"), fixed);
    setDirection(direction);
    updatePending();
    el("reader-input").focus();
  }

  function setDirection(value) {
    direction = value;
    Array.prototype.forEach.call(document.querySelectorAll("[data-direction]"), function (b) {
      b.setAttribute("aria-checked", b.dataset.direction === value ? "true" : "false");
      b.setAttribute("role", "radio");
    });
  }

  function logIn(deviceId, token) {
    return confirm({ deviceId: deviceId.trim().toUpperCase(), token: token.trim() });
  }

  function sendCode(phone) {
    el("send-code").disabled = true;
    R.call("POST", "/api/v1/session/code", { phone: phone.trim() }).then(function (answer) {
      el("send-code").disabled = false;
      if (answer.ok) {
        R.show("code-form", true);
        R.show("login-error", false);
        el("signin-code").focus();
      } else {
        var text = R.reasonText(answer.error);
        showLogin(text[0] + " · " + text[1]);
      }
    });
  }

  function signIn(phone, code) {
    R.call("POST", "/api/v1/session", { phone: phone.trim(), code: code.trim() }).then(function (answer) {
      if (!answer.ok) {
        var text = R.reasonText(answer.error);
        showLogin(text[0] + " · " + text[1]);
        return;
      }
      var venues = answer.body.grants.filter(function (g) { return g.venue_id; });
      if (!venues.length) {
        var none = R.reasonText("not_staff");
        showLogin(none[0] + " · " + none[1]);
        return;
      }
      el("signin-code").value = "";
      R.show("code-form", false);
      confirm({ session: true, venueId: venues[0].venue_id });
    });
  }

  function confirm(candidate) {
    return R.call("GET", "/api/v1/device", undefined, candidate).then(function (answer) {
      if (answer.ok) {
        credentials = candidate;
        device = answer.body;
        save(CREDENTIALS, credentials);
        save(DEVICE, device);
        R.show("login-error", false);
        showScanner();
      } else if (answer.retryable && device && credentials) {
        showScanner();  // offline: scan into the pending list
      } else {
        var text = R.reasonText(answer.error);
        showLogin(text[0] + " · " + text[1]);
      }
    });
  }

  function remember(kind, text) {
    var item = document.createElement("li");
    item.className = kind;
    item.textContent = R.timeNow() + " — " + text;
    var list = el("recent");
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 10) list.removeChild(list.lastChild);
  }

  function showAnswer(answer, scan) {
    if (answer.status === "accepted") {
      R.showResult("ok", TITLES[answer.direction] || TITLES.auto);
      R.showDeclaration(answer.declaration);
      el("result-name").textContent = answer.name || "";
      remember("ok", (TITLES[answer.direction] || TITLES.auto)[0] + (answer.name ? " · " + answer.name : ""));
      if (scan) offerDeclaration(scan.person_qr);
    } else {
      var reason = R.reasonText(answer.reason);
      declareFor = null;
      R.show("declare-for", false);
      R.showResult("refused", ["TỪ CHỐI", "Refused"], reason);
      el("result-name").textContent = "";
      remember("refused", reason[0]);
    }
  }

  function submit(text) {
    text = text.trim();
    if (!text) return;
    var scan = { event_id: R.uuid4(), person_qr: text, direction: direction, scanned_at: new Date().toISOString() };
    if (pendingScans().length) { keep(scan); flush(); return; }  // keep the order of the scans
    R.call("POST", "/api/v1/scans", scan, credentials).then(function (answer) {
      if (answer.ok) {
        showAnswer(answer.body, scan);
      } else if (answer.retryable) {
        keep(scan);
      } else if (answer.status === 401 || answer.status === 403) {
        var reason = R.reasonText(answer.error);
        R.showResult("refused", reason, ["Đăng nhập lại", "Log in again"]);
        showLogin(reason[0] + " · " + reason[1]);
      } else {
        R.showResult("refused", ["TỪ CHỐI", "Refused"], R.reasonText(answer.error));
      }
    });
  }

  function keep(scan) {
    var list = pendingScans();
    list.push(scan);
    save(PENDING, list);
    R.showResult("pending", ["ĐÃ LƯU, CHƯA GỬI", "Saved, not sent yet"], ["Sẽ tự gửi lại", "Will be sent by itself"]);
    el("result-name").textContent = "";
    updatePending();
  }

  function updatePending() {
    var n = pendingScans().length;
    R.show("pending", n > 0);
    el("pending").textContent = n ? "Chờ gửi / waiting to send: " + n : "";
  }

  function flush() {
    var list = pendingScans();
    if (flushing || !list.length || !credentials) return;
    flushing = true;
    var batch = list.slice(0, 500);
    R.call("POST", "/api/v1/scans/batch", { scans: batch }, credentials).then(function (answer) {
      flushing = false;
      if (!answer.ok) return;  // still offline, or throttled: the timer tries again
      var sent = {};
      batch.forEach(function (s) { sent[s.event_id] = true; });
      save(PENDING, pendingScans().filter(function (s) { return !sent[s.event_id]; }));
      answer.body.results.forEach(function (r) {
        remember(r.status === "accepted" ? "ok" : "refused",
                 r.status === "accepted" ? (TITLES[r.direction] || TITLES.auto)[0] + (r.name ? " · " + r.name : "")
                                         : R.reasonText(r.reason)[0]);
      });
      var last = answer.body.results[answer.body.results.length - 1];
      if (last) showAnswer(last, batch[batch.length - 1]);
      updatePending();
    });
  }

  // --- declaring for the person just scanned ----------------------------------------------------
  function offerDeclaration(personCode) {
    declareFor = personCode;
    R.resetDeclaration(R.localDay(Date.now()));
    el("declare-for").open = false;
    R.show("declare-for", true);
  }

  el("declare-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!declareFor) return;
    var body = R.declarationAnswers();
    body.declaration_id = R.uuid4();
    body.person_qr = declareFor;
    el("declare-button").disabled = true;
    R.call("POST", "/api/v1/declarations", body, credentials).then(function (answer) {
      el("declare-button").disabled = false;
      if (answer.ok) {
        R.showResult("ok", ["ĐÃ KHAI BÁO Y TẾ", "Declaration sent"]);
        R.showDeclaration(answer.body.status);
        el("result-name").textContent = "";
        declareFor = null;
        R.show("declare-for", false);
      } else {
        R.showResult(answer.retryable ? "pending" : "refused", ["CHƯA GỬI KHAI BÁO", "Declaration not sent"],
                     R.reasonText(answer.error));
        el("result-name").textContent = "";
      }
    });
  });

  el("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    logIn(el("device-id").value, el("device-token").value);
  });
  el("reader-form").addEventListener("submit", function (event) {
    event.preventDefault();  // a USB reader types the code and presses Enter
    var input = el("reader-input");
    submit(input.value);
    input.value = "";
    input.focus();
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-direction]"), function (b) {
    b.addEventListener("click", function () { setDirection(b.dataset.direction); el("reader-input").focus(); });
  });
  el("camera-toggle").addEventListener("click", function () {
    if (camera) {
      camera.stop();
      camera = null;
      R.show("camera", false);
      R.setBilingual(el("camera-toggle"), ["Bật camera", "Start camera"]);
      return;
    }
    R.show("camera", true);
    camera = new R.CameraScanner(el("video"), submit);
    R.setBilingual(el("camera-toggle"), ["Tắt camera", "Stop camera"]);
    camera.start().catch(function (e) {
      camera = null;
      R.show("camera", false);
      R.showResult("refused", ["Không mở được camera", "Cannot open the camera"], [String(e.message || e), ""]);
    });
  });
  el("phone-form").addEventListener("submit", function (event) {
    event.preventDefault();
    sendCode(el("staff-phone").value);
  });
  el("code-form").addEventListener("submit", function (event) {
    event.preventDefault();
    signIn(el("staff-phone").value, el("signin-code").value);
  });
  el("visitor-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!el("id-checked").checked) {
      R.showResult("refused", ["Chưa cấp mã", "No code given"], R.reasonText("id_not_checked"));
      return;
    }
    var body = { person_qr: el("visitor-card").value.trim(), id_checked: true };
    R.call("POST", "/api/v1/enrolment/attended", body, credentials).then(function (answer) {
      if (answer.ok) {
        el("visitor-name").textContent = answer.body.name || "";
        el("visitor-code").textContent = answer.body.code;
        R.show("visitor-result", true);
        el("visitor-card").value = "";
        el("id-checked").checked = false;
      } else {
        R.show("visitor-result", false);
        R.showResult("refused", ["Chưa cấp mã", "No code given"], R.reasonText(answer.error));
      }
    });
  });
  el("logout").addEventListener("click", function () {
    if (credentials && credentials.session) R.call("DELETE", "/api/v1/session");
    localStorage.removeItem(CREDENTIALS);
    localStorage.removeItem(DEVICE);
    credentials = device = null;
    if (camera) { camera.stop(); camera = null; }
    showLogin();
  });
  setInterval(flush, 5000);

  if (credentials) confirm(credentials); else showLogin();
})();
