/* Self check-in: the page a venue poster's QR opens (/s/<venue code>). The person saves
   their personal code once on this phone and enrols the phone (a one-time code by SMS, or
   from a guard who checked their ID), then taps Vào (in) or Ra (out). Every check-in is
   signed by this phone's key (phone_key.js): a photo of the card checks no one in.
   A check-in that cannot be sent now is kept on the phone and sent again, same event id,
   with the time it was tapped, for as long as the gateway takes it. Once a day the page
   offers the health declaration (signed by the same key); it can be skipped. */
"use strict";

(function () {
  var R = Ravao, el = R.el;
  var config = JSON.parse(document.body.dataset.config);
  var STORE = "ravao.personCode", PENDING = "ravao.checkin.pending", OFFSET = "ravao.clockOffset";
  var OFFERED = "ravao.declaration.offered";  // the day the declaration was sent or skipped
  // Kept a little less long than the gateway takes a signed check-in's time (maxAgeSeconds).
  var maxAgeMs = Math.max(10, (config.maxAgeSeconds || 172800) - 60) * 1000;
  var WINDOW_REASONS = { too_late: 1, future_scan: 1 };
  var PHONE_REASONS = { enrolment_required: 1, phone_not_enrolled: 1, bad_phone_signature: 1 };
  var key = null;  // this phone's enrolled key for the saved code, or null
  var sending = false, retryTimer = null, camera = null;

  function stored() { try { return localStorage.getItem(STORE); } catch (e) { return null; } }
  function load(name, fallback) { try { return JSON.parse(localStorage.getItem(name)) || fallback; } catch (e) { return fallback; } }
  function save(name, value) { localStorage.setItem(name, JSON.stringify(value)); }
  function pending() { return load(PENDING, []); }
  // How far this phone's clock is behind the gateway's (ms), learned from a refusal for time.
  function offset() { return load(OFFSET, 0); }
  function today() { return R.localDay(Date.now() + offset()); }

  function render() {
    var code = stored();
    R.show("register", !code);
    R.show("enrol", !!code && !key);
    R.show("checkin", !!code && !!key);
    var offer = !!code && !!key && load(OFFERED, null) !== today();
    if (offer && el("declare").hidden) R.resetDeclaration(today());
    R.show("declare", offer);
    if (code) el("my-code").textContent = code.replace(/(.{4})/g, "$1 ").trim();
    else el("person-code").focus();
  }

  function refresh() {
    var code = stored();
    return (code ? PhoneKey.load(code) : Promise.resolve(null)).then(function (entry) { key = entry; render(); });
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
        return refresh();
      }
      var reason = answer.ok ? answer.body.reason : answer.error;
      R.showResult("refused", ["Mã không hợp lệ", "This code is not valid"], R.reasonText(reason));
    });
  }

  // --- enrolment ---------------------------------------------------------------------------
  function sendSms() {
    el("send-sms").disabled = true;
    R.call("POST", "/api/v1/enrolment/code", { person_qr: stored() }).then(function (answer) {
      el("send-sms").disabled = false;
      if (answer.ok) {
        el("sms-sent").textContent = "Đã gửi mã tới / Code sent to " + answer.body.sent_to;
        R.show("sms-sent", true);
        el("result").hidden = true;
        el("enrol-code").focus();
      } else {
        R.showResult("refused", ["Chưa gửi được mã", "No code sent"], R.reasonText(answer.error));
      }
    });
  }

  function enrolPhone(code) {
    var personCode = stored();
    el("enrol-button").disabled = true;
    PhoneKey.create().then(function (made) {
      return R.call("POST", "/api/v1/enrolment", { person_qr: personCode, code: code.trim(),
                                                  public_key: made.publicKey }).then(function (answer) {
        if (!answer.ok) {
          el("enrol-button").disabled = false;
          R.showResult("refused", ["Chưa đăng ký được", "Not enrolled"], R.reasonText(answer.error));
          return;
        }
        return PhoneKey.keep(personCode, answer.body.person_id, answer.body.key_id, made.keyPair).then(function () {
          el("enrol-button").disabled = false;
          el("enrol-code").value = "";
          R.show("sms-sent", false);
          R.showResult("ok", ["ĐÃ ĐĂNG KÝ", "Phone enrolled"], ["Bấm Vào hoặc Ra", "Tap Enter or Leave"]);
          return refresh();
        });
      });
    }).catch(function (e) {
      el("enrol-button").disabled = false;
      R.showResult("refused", ["Trình duyệt không tạo được khoá", "This browser cannot make a key"],
                   [String(e.message || e), "HTTPS?"]);
    });
  }

  function unenrolled(reason) {
    // Another phone was enrolled since, or this one never was: what waits here cannot count.
    save(PENDING, []);
    return PhoneKey.forget().then(refresh).then(function () {
      R.showResult("refused", ["TỪ CHỐI", "Refused"], R.reasonText(reason));
    });
  }

  // --- check-ins ---------------------------------------------------------------------------
  function tap(direction) {
    var list = pending();
    // The phone's own clock at the tap; the offset known at sending corrects it.
    list.push({ event_id: R.uuid4(), direction: direction, tapped: Date.now(), fixed: false });
    save(PENDING, list);
    flush();
  }

  function signedBody(item) {
    var scannedMs = item.tapped + offset(), sentMs = Date.now() + offset();
    var text = PhoneKey.lines(key.personId, config.venueId, item.event_id, item.direction, scannedMs, sentMs);
    return PhoneKey.sign(key, text).then(function (signature) {
      return { event_id: item.event_id, venue_qr: config.venueCode, person_qr: stored(), direction: item.direction,
               scanned_at: new Date(scannedMs).toISOString(), sent_at: new Date(sentMs).toISOString(),
               key_id: key.keyId, signature: signature };
    });
  }

  function drop(item) {
    save(PENDING, pending().filter(function (p) { return p.event_id !== item.event_id; }));
  }

  function updatePending() {
    var n = pending().length;
    el("retry").hidden = n === 0;
    el("btn-in").disabled = el("btn-out").disabled = sending;
  }

  function flush() {
    var list = pending();
    if (sending || !list.length || !key) { updatePending(); return; }
    var item = list[0];
    if (Date.now() - item.tapped > maxAgeMs) {
      drop(item);
      R.showResult("refused", ["CHƯA GỬI ĐƯỢC: hãy bấm lại", "Not sent in time: tap again"],
                   ["Lượt bấm cũ đã bị huỷ", "The earlier tap was dropped"]);
      flush();
      return;
    }
    sending = true;
    updatePending();
    R.showResult("pending", ["Đang gửi…", "Sending…"]);
    signedBody(item).then(function (body) {
      return R.call("POST", "/api/v1/checkins", body).then(function (answer) { settle(item, answer); });
    });
  }

  function settle(item, answer) {
    sending = false;
    if (answer.ok && answer.body.status === "accepted") {
      drop(item);
      var title = item.direction === "in" ? ["ĐÃ VÀO", "Checked in"] : ["ĐÃ RA", "Checked out"];
      var venue = el("venue-name").textContent;
      R.showResult("ok", title, [(venue ? venue + " · " : "") + R.timeNow(), "Cảm ơn bạn! Thank you!"]);
      R.showDeclaration(answer.body.declaration);
      flush();
    } else if (answer.ok && WINDOW_REASONS[answer.body.reason] && !item.fixed && answer.serverDate) {
      // Refused for its time: this phone's clock is off. Learn by how much from the
      // gateway's clock, and send the same check-in again, re-dated and signed again.
      save(OFFSET, Date.parse(answer.serverDate) - Date.now());
      save(PENDING, pending().map(function (p) { if (p.event_id === item.event_id) p.fixed = true; return p; }));
      flush();
    } else if (answer.ok && PHONE_REASONS[answer.body.reason]) {
      unenrolled(answer.body.reason);
    } else if (answer.ok) {
      drop(item);
      R.showResult("refused", ["TỪ CHỐI", "Refused"], R.reasonText(answer.body.reason));
      flush();
    } else if (answer.retryable) {
      R.showResult("pending", ["ĐÃ LƯU, CHƯA GỬI", "Saved, not sent yet"], ["Sẽ tự gửi lại", "Will send again by itself"]);
      var wait = Math.min(30, (answer.body.retry_after || 3)) * 1000;
      clearTimeout(retryTimer);
      retryTimer = setTimeout(flush, wait);
    } else {
      drop(item);
      R.showResult("refused", ["TỪ CHỐI", "Refused"], R.reasonText(answer.error));
    }
    updatePending();
  }

  // --- the health declaration -----------------------------------------------------------------
  function declare(answers, declarationId, retried) {
    var sentMs = Date.now() + offset();
    var text = PhoneKey.declarationLines(key.personId, declarationId, answers.declared_on, answers.symptoms,
                                         answers.contact_with_case, answers.travel, sentMs);
    el("declare-button").disabled = true;
    return PhoneKey.sign(key, text).then(function (signature) {
      var body = { declaration_id: declarationId, person_qr: stored(), declared_on: answers.declared_on,
                   symptoms: answers.symptoms, contact_with_case: answers.contact_with_case, travel: answers.travel,
                   sent_at: new Date(sentMs).toISOString(), key_id: key.keyId, signature: signature };
      return R.call("POST", "/api/v1/declarations", body);
    }).then(function (answer) {
      el("declare-button").disabled = false;
      if (answer.ok) {
        save(OFFERED, today());
        R.showResult("ok", ["ĐÃ KHAI BÁO Y TẾ", "Declaration sent"], ["Cảm ơn bạn!", "Thank you!"]);
        R.showDeclaration(answer.body.status);
        render();
      } else if (WINDOW_REASONS[answer.error] && !retried && answer.serverDate) {
        save(OFFSET, Date.parse(answer.serverDate) - Date.now());  // this phone's clock is off
        declare(answers, declarationId, true);
      } else if (PHONE_REASONS[answer.error]) {
        unenrolled(answer.error);
      } else {
        var kind = answer.retryable ? "pending" : "refused";
        R.showResult(kind, ["CHƯA GỬI KHAI BÁO", "Declaration not sent"],
                     answer.retryable ? ["Bấm gửi lại", "Tap send again"] : R.reasonText(answer.error));
      }
    });
  }

  el("declare-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!key) return;
    declare(R.declarationAnswers(), R.uuid4(), false);
  });
  el("declare-skip").addEventListener("click", function () {
    save(OFFERED, today());
    render();
  });

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
  el("send-sms").addEventListener("click", sendSms);
  el("enrol-form").addEventListener("submit", function (event) {
    event.preventDefault();
    enrolPhone(el("enrol-code").value);
  });
  el("btn-in").addEventListener("click", function () { tap("in"); });
  el("btn-out").addEventListener("click", function () { tap("out"); });
  el("retry").addEventListener("click", flush);
  function changeCode() {
    localStorage.removeItem(STORE);
    save(PENDING, []);
    el("result").hidden = true;
    PhoneKey.forget().then(refresh);
  }
  el("change-code").addEventListener("click", changeCode);
  el("change-code-enrol").addEventListener("click", changeCode);
  setInterval(flush, 10000);
  window.addEventListener("online", flush);
  refresh().then(flush);
})();
