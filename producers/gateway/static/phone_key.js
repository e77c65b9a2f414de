/* This phone's key: made by WebCrypto when the phone is enrolled, kept in IndexedDB, and
   never exported (the private key is not extractable: not even this page can read it).
   A check-in is signed with it; the gateway checks the signature against the person's
   enrolled key (producers/gateway/phone.py says what is signed). */
"use strict";

var PhoneKey = (function () {
  var DB = "ravao", STORE = "phone", KEY = "enrolled";
  var ALGORITHM = { name: "ECDSA", namedCurve: "P-256" }, SIGNING = { name: "ECDSA", hash: "SHA-256" };

  function open() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function run(mode, action) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode), request = action(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(request.result); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function b64url(bytes) {
    var text = "";
    new Uint8Array(bytes).forEach(function (b) { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // A new key pair, not stored yet: {keyPair, publicKey (raw, base64url)}.
  function create() {
    return crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]).then(function (keyPair) {
      return crypto.subtle.exportKey("raw", keyPair.publicKey).then(function (raw) {
        return { keyPair: keyPair, publicKey: b64url(raw) };
      });
    });
  }

  // Keep the enrolled key (CryptoKey objects are stored as they are, still not extractable).
  function keep(personCode, personId, keyId, keyPair) {
    var entry = { personCode: personCode, personId: personId, keyId: keyId, privateKey: keyPair.privateKey,
                  publicKey: keyPair.publicKey };
    return run("readwrite", function (store) { return store.put(entry, KEY); }).then(function () { return entry; });
  }

  // The enrolled key for this personal code, or null.
  function load(personCode) {
    return run("readonly", function (store) { return store.get(KEY); }).then(function (entry) {
      return entry && entry.personCode === personCode ? entry : null;
    }).catch(function () { return null; });
  }

  function forget() {
    return run("readwrite", function (store) { return store["delete"](KEY); }).catch(function () {});
  }

  // The signed lines of a check-in; times in whole milliseconds since 1970 (UTC).
  function lines(personId, venueId, eventId, direction, scannedMs, sentMs) {
    return ["ravao-checkin/1", personId, venueId, eventId.toLowerCase(), direction,
            scannedMs == null ? "" : String(scannedMs), String(sentMs)].join("\n");
  }

  // The signed lines of a health declaration (producers/gateway/declarations.py).
  function declarationLines(personId, declarationId, declaredOn, symptoms, contact, travel, sentMs) {
    return ["ravao-declaration/1", personId, declarationId.toLowerCase(), declaredOn, symptoms.join(","),
            contact ? "1" : "0", travel, String(sentMs)].join("\n");
  }

  function sign(entry, text) {
    return crypto.subtle.sign(SIGNING, entry.privateKey, new TextEncoder().encode(text)).then(b64url);
  }

  return { create: create, keep: keep, load: load, forget: forget, lines: lines,
           declarationLines: declarationLines, sign: sign };
})();
