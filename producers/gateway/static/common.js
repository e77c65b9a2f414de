/* ravao web scanner: what both pages share. Plain browser JavaScript, no build step. */
"use strict";

var Ravao = (function () {
  // Why a code is refused (the QR codec's reasons) and the API's errors: [Vietnamese, English].
  var REASONS = {
    empty: ["Không đọc được mã", "Nothing was read"],
    not_ravao: ["Không phải mã ravao", "Not a ravao code"],
    lowercase: ["Máy đọc gõ chữ thường: tắt Caps Lock", "Lower-case letters: turn Caps Lock off"],
    keyboard_layout: ["Máy đọc dùng bố cục bàn phím khác: chọn US", "Reader types another keyboard layout: set it to US"],
    bad_characters: ["Mã có ký tự lạ", "The code has foreign characters"],
    unknown_version: ["Phiên bản mã không được hỗ trợ", "Unsupported code version"],
    truncated: ["Mã bị thiếu: quét lại", "Code cut short: scan again"],
    too_long: ["Mã quá dài: quét lại", "Code too long: scan again"],
    bad_check: ["Đọc sai mã: quét lại", "Misread: scan again"],
    wrong_kind: ["Sai loại mã (mã cá nhân / mã địa điểm)", "Wrong kind of code (personal / venue)"],
    unknown_key: ["Mã đã hết hạn: in thẻ mới", "Expired code: print a new card"],
    bad_signature: ["Mã giả hoặc bị sửa", "Forged or altered code"],
    rate_limited: ["Quá nhiều lượt quét: chờ giây lát", "Too many scans: wait a moment"],
    kafka_unavailable: ["Chưa lưu được: đang thử lại", "Not stored yet: retrying"],
    not_ready: ["Máy chủ đang khởi động: đang thử lại", "Server starting: retrying"],
    network: ["Mất kết nối: đang thử lại", "No connection: retrying"],
    unknown_device: ["Thiết bị chưa đăng ký", "Device not registered"],
    bad_token: ["Sai mã bí mật", "Wrong token"],
    missing_credentials: ["Chưa đăng nhập", "Not logged in"],
    device_inactive: ["Thiết bị đã bị khoá", "Device deactivated"],
    invalid_request: ["Yêu cầu không hợp lệ", "Invalid request"],
    too_late: ["Giờ quét quá cũ: kiểm tra đồng hồ", "Scan time too old: check the clock"],
    future_scan: ["Giờ quét ở tương lai: kiểm tra đồng hồ", "Scan time in the future: check the clock"],
    device_not_authorised: ["Mã của địa điểm khác", "Another venue's code"],
    body_timeout: ["Mạng chậm: đang thử lại", "Slow network: retrying"],
    enrolment_required: ["Điện thoại này chưa đăng ký: hãy đăng ký", "This phone is not enrolled: enrol it"],
    phone_not_enrolled: ["Mã này đã đăng ký trên điện thoại khác: đăng ký lại", "Another phone is enrolled for this code: enrol again"],
    bad_phone_signature: ["Chữ ký điện thoại không hợp lệ: đăng ký lại", "The phone's signature is not valid: enrol again"],
    wrong_code: ["Sai mã: nhập lại", "Wrong code: type it again"],
    code_expired: ["Mã đã hết hạn: xin mã mới", "The code expired: ask for a new one"],
    code_used: ["Mã đã dùng: xin mã mới", "The code was used: ask for a new one"],
    no_phone_on_record: ["Chưa có số điện thoại: nhờ bảo vệ cấp mã", "No phone number on record: ask a guard for a code"],
    sms_unavailable: ["Chưa gửi được SMS: thử lại sau", "SMS not sent: try again later"],
    id_not_checked: ["Hãy kiểm tra giấy tờ trước", "Check the ID first"],
    not_a_guard: ["Chỉ điện thoại bảo vệ mới cấp mã", "Only a guard's phone gives codes"],
    not_signed_in: ["Chưa đăng nhập", "Not signed in"],
    not_staff: ["Số này không phải nhân viên của địa điểm nào", "This number is not staff at any venue"],
    not_scanned_here: ["Hãy quét mã của người này trước", "Scan this person's code first"],
    not_today: ["Ngày khai báo phải là hôm nay", "The date must be today"]
  };
  // A health declaration's status, as every screen shows it: a word and a colour (app.css).
  var DECLARATIONS = {
    none: ["Chưa khai báo y tế", "none"],
    ok: ["Khai báo y tế: bình thường", "ok"],
    exposed: ["Có tiếp xúc ca bệnh", "exposed"],
    symptoms: ["Có triệu chứng", "symptoms"]
  };
  var RETRYABLE = { rate_limited: 1, kafka_unavailable: 1, not_ready: 1, network: 1, internal_error: 1,
                    body_timeout: 1 };

  function reasonText(reason) {
    return REASONS[reason] || [reason || "Lỗi", reason || "Error"];
  }

  // RFC 4122 version 4. crypto.randomUUID needs a secure context; getRandomValues does not.
  function uuid4() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // POST or GET JSON. Resolves {ok, status, body, error, retryable}; never rejects.
  function call(method, path, body, credentials) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    // A bound device's token; or a guard's sign-in session (its cookie goes by itself),
    // naming the venue it guards.
    if (credentials && credentials.token) headers["Authorization"] = "Bearer " + credentials.deviceId + ":" + credentials.token;
    if (credentials && credentials.venueId) headers["X-Ravao-Venue"] = credentials.venueId;
    return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body),
                         cache: "no-store" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          var error = response.ok ? null : (data.error || "http_" + response.status);
          // The gateway's clock (the Date header, to the second): a check-in page corrects
          // a phone clock that is off by it.
          return { ok: response.ok, status: response.status, body: data, error: error,
                   serverDate: response.headers.get("Date"),
                   retryable: !response.ok && (response.status >= 500 || response.status === 429 || !!RETRYABLE[error]) };
        });
      })
      .catch(function () { return { ok: false, status: 0, body: {}, error: "network", retryable: true }; });
  }

  function el(id) { return document.getElementById(id); }

  function show(id, visible) { el(id).hidden = !visible; }

  function setBilingual(node, pair) {
    node.textContent = pair[0];
    var small = document.createElement("small");
    small.textContent = pair[1];
    node.appendChild(small);
  }

  // The big result panel: kind is "ok", "refused" or "pending".
  function showResult(kind, title, detail) {
    var panel = el("result");
    panel.className = "result " + kind;
    panel.dataset.kind = kind;
    setBilingual(el("result-title"), title);
    if (el("result-detail")) {
      if (detail) setBilingual(el("result-detail"), detail); else el("result-detail").textContent = "";
    }
    panel.hidden = false;
    if (el("result-declaration")) el("result-declaration").hidden = true;
  }

  // The status badge in the result panel (after showResult).
  function showDeclaration(status) {
    var node = el("result-declaration");
    if (!node || !DECLARATIONS[status]) return;
    node.className = "declaration " + status;
    node.dataset.status = status;
    setBilingual(node, DECLARATIONS[status]);
    node.hidden = false;
  }

  // The declaration form's answers (pages.py renders it): symptoms in the list's order.
  function declarationAnswers() {
    var ticked = Array.prototype.filter.call(document.querySelectorAll("input[name=symptom]"), function (box) {
      return box.checked;
    }).map(function (box) { return box.value; });
    return { declared_on: el("declared-on").value, symptoms: ticked,
             contact_with_case: el("contact-with-case").checked, travel: el("travel").value.trim() };
  }

  function resetDeclaration(day) {
    el("declare-form").reset();
    el("declared-on").value = day;
  }

  // The local day (YYYY-MM-DD) of a time in ms.
  function localDay(ms) {
    var d = new Date(ms);
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  }

  function timeNow() {
    return new Date().toLocaleTimeString("vi-VN", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // Camera scanning: frames of getUserMedia's stream drawn on a canvas and read by jsQR.
  function CameraScanner(video, onCode) {
    this.video = video;
    this.onCode = onCode;
    this.canvas = document.createElement("canvas");
    this.stream = null;
    this.timer = null;
    this.last = { text: null, at: 0 };
  }
  CameraScanner.prototype.start = function () {
    var self = this;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      return Promise.reject(new Error("no camera (the page must be served over HTTPS)"));
    }
    return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (stream) {
        self.stream = stream;
        self.video.srcObject = stream;
        return self.video.play();
      })
      .then(function () { self.timer = setInterval(function () { self.tick(); }, 150); });
  };
  CameraScanner.prototype.tick = function () {
    var v = this.video;
    if (!v.videoWidth || v.readyState < 2) return;
    var scale = Math.min(1, 640 / v.videoWidth);
    var w = Math.round(v.videoWidth * scale), h = Math.round(v.videoHeight * scale);
    this.canvas.width = w;
    this.canvas.height = h;
    var ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(v, 0, 0, w, h);
    var found = window.jsQR(ctx.getImageData(0, 0, w, h).data, w, h, { inversionAttempts: "dontInvert" });
    if (!found || !found.data) return;
    var now = Date.now();
    // The same code stays in front of the camera for a while: read it once.
    if (found.data === this.last.text && now - this.last.at < 4000) { this.last.at = now; return; }
    this.last = { text: found.data, at: now };
    this.onCode(found.data);
  };
  CameraScanner.prototype.stop = function () {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.stream) this.stream.getTracks().forEach(function (t) { t.stop(); });
    this.stream = null;
  };

  return { reasonText: reasonText, uuid4: uuid4, call: call, el: el, show: show, showResult: showResult,
           setBilingual: setBilingual, timeNow: timeNow, CameraScanner: CameraScanner,
           showDeclaration: showDeclaration, declarationAnswers: declarationAnswers,
           resetDeclaration: resetDeclaration, localDay: localDay };
})();
