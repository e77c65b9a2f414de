/* Self check-in: the page a venue poster's QR opens (/s/<venue code>). The person saves
   their personal code once on this phone, then taps Vào (in) or Ra (out). */
"use strict";

(function () {
  var R = Ravao, el = R.el;
  var config = JSON.parse(document.body.dataset.config);
  var STORE = "ravao.personCode";
  var pending = null;  // the check-in being sent: resent with the same event id until stored
  var tappedAt = 0;  // when it was tapped (this phone's clock; only the difference counts)
  // The gateway takes a check-in dated at most maxAgeSeconds from its arrival: an unsent one
  // is given up a little before that, and the person taps again.
  var maxAgeMs = Math.max(10, (config.maxAgeSeconds || 300) - 10) * 1000;
  var WINDOW_REASONS = { too_late: 1, future_scan: 1 };
  var retryTimer = null;
  var camera = null;

  function stored() { try { return localStorage.getItem(STORE); } catch (e) { return null; } }

  function render() {
    var code = stored();
    R.show("register", !code);
    R.show("checkin", !!code);
    if (code) el("my-code").textContent = code.replace(/(.{4})/g, "$1 ").trim();
    else el("person-code").focus();
  }

  function normalise(text) { return text.replace(/\s+/g, "").toUpperCase(); }

  function saveCode(text) {
    var code = normalise(text);
    el("save-code").disabled = true;
    return R.call("POST", "/api/v1/codes/check", { code: code, expect: "P" }).then(function (answer) {
      el("save-code").disabled = false;
      if (answer.ok && answer.body.valid) {
        localStorage.setItem(STORE, code);
        if (camera) { camera.stop(); camera = null; R.show("camera", false); }
        el("result").hidden = true;
        render();
      } else {
        var reason = answer.ok ? answer.body.reason : answer.error;
        R.showResult("refused", ["Mã không hợp lệ", "This code is not valid"], R.reasonText(reason));
      }
    });
  }

  function giveUp() {
    pending = null;
    clearTimeout(retryTimer);
    el("retry").hidden = true;
    el("btn-in").disabled = el("btn-out").disabled = false;
    R.showResult("refused", ["CHƯA GỬI ĐƯỢC: hãy bấm lại", "Not sent in time: tap again"],
                 ["Lượt bấm cũ đã bị huỷ", "The earlier tap was dropped"]);
  }

  function send() {
    var body = pending;
    if (Date.now() - tappedAt > maxAgeMs) { giveUp(); return; }
    el("btn-in").disabled = el("btn-out").disabled = true;
    R.showResult("pending", ["Đang gửi…", "Sending…"]);
    R.call("POST", "/api/v1/checkins", body).then(function (answer) {
      el("btn-in").disabled = el("btn-out").disabled = false;
      if (answer.ok && answer.body.status === "accepted") {
        pending = null;
        el("retry").hidden = true;
        var title = body.direction === "in" ? ["ĐÃ VÀO", "Checked in"] : ["ĐÃ RA", "Checked out"];
        var venue = el("venue-name").textContent;
        R.showResult("ok", title, [(venue ? venue + " · " : "") + R.timeNow(), "Cảm ơn bạn! Thank you!"]);
      } else if (answer.ok && WINDOW_REASONS[answer.body.reason] && body.scanned_at && Date.now() - tappedAt < 60000) {
        // Just tapped, yet refused for its time: this phone's clock is wrong. The same
        // check-in again without a time: the gateway dates it on arrival.
        delete body.scanned_at;
        send();
      } else if (answer.ok) {
        pending = null;
        el("retry").hidden = true;
        R.showResult("refused", ["TỪ CHỐI", "Refused"], R.reasonText(answer.body.reason));
      } else if (answer.retryable) {
        el("retry").hidden = false;
        R.showResult("pending", R.reasonText(answer.error), ["Sẽ tự gửi lại", "Will send again by itself"]);
        var wait = Math.min(30, (answer.body.retry_after || 3)) * 1000;
        clearTimeout(retryTimer);
        retryTimer = setTimeout(function () { if (pending === body) send(); }, wait);
      } else {
        pending = null;
        R.showResult("refused", ["TỪ CHỐI", "Refused"], R.reasonText(answer.error));
      }
    });
  }

  function checkin(direction) {
    if (pending) { send(); return; }  // a tap while one is waiting: send that one again
    tappedAt = Date.now();
    pending = { event_id: R.uuid4(), venue_qr: config.venueCode, person_qr: stored(), direction: direction,
                scanned_at: new Date(tappedAt).toISOString() };
    send();
  }

  el("register-form").addEventListener("submit", function (event) {
    event.preventDefault();
    saveCode(el("person-code").value);
  });
  el("scan-own").addEventListener("click", function () {
    if (camera) return;
    R.show("camera", true);
    camera = new R.CameraScanner(el("video"), function (text) { el("person-code").value = text; saveCode(text); });
    camera.start().catch(function (e) {
      camera = null;
      R.show("camera", false);
      R.showResult("refused", ["Không mở được camera", "Cannot open the camera"], [String(e.message || e), ""]);
    });
  });
  el("btn-in").addEventListener("click", function () { checkin("in"); });
  el("btn-out").addEventListener("click", function () { checkin("out"); });
  el("retry").addEventListener("click", function () { if (pending) send(); });
  el("change-code").addEventListener("click", function () {
    localStorage.removeItem(STORE);
    el("result").hidden = true;
    render();
  });
  render();
})();
