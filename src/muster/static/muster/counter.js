// Muster counter: the camera as a second scanner. Loaded as a file (no inline script: the CSP forbids it).
//
// The "Camera" button opens the camera. Each decoded code is put into the counter's scan box and submitted exactly
// as a keyboard-wedge scan is (htmx then posts it). Decoding uses the browser's BarcodeDetector where it exists
// (QR codes and Code 128), else the vendored jsQR (QR codes only), loaded on first use from data-fallback-src.
// Neither needs eval or WebAssembly. The camera needs a secure page (HTTPS, or localhost).
(function () {
  "use strict";

  var FORMATS = ["qr_code", "code_128"];
  var EVERY_MS = 150; // between two decoding attempts: enough for a hand-held code, light on a phone
  // A label held in view is one scan, not one every frame: the same code counts again only after it has been out
  // of sight this long. Otherwise a label still in view after its issue would be scanned again, and returned.
  var GONE_MS = 1500;
  var MAX_WIDTH = 640; // frames are scaled down to this for the fallback decoder

  var box = document.querySelector("[data-counter-camera]");
  if (!box) {
    return;
  }
  var button = box.querySelector("[data-camera-toggle]");
  var video = box.querySelector("video");
  var status = box.querySelector("[data-camera-status]");
  var stream = null;
  var timer = null;
  var decode = null;
  var last = { code: "", at: 0 };

  function say(text) {
    status.textContent = text;
  }

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    button.disabled = true;
    say("This browser gives the page no camera (it needs HTTPS). Use the scanner or type the number.");
    return;
  }

  // The scan box of the moment: htmx replaces it after every scan; during the PIN step there is none.
  function scanBox() {
    return document.querySelector('[data-counter-form="scan"] input[name="code"]');
  }

  function stillInView(code) {
    var now = Date.now();
    var same = code === last.code && now - last.at < GONE_MS;
    last = { code: code, at: now };
    return same;
  }

  function submitScan(code) {
    if (stillInView(code)) {
      return;
    }
    var input = scanBox();
    if (!input) {
      return; // the PIN step: the member types, and a code seen now is not taken later while it stays in view
    }
    input.value = code;
    say("Read " + code);
    input.form.requestSubmit(); // the same submit event a wedge scanner's Enter fires
  }

  function nativeDecoder() {
    if (!("BarcodeDetector" in window)) {
      return Promise.resolve(null);
    }
    return window.BarcodeDetector.getSupportedFormats()
      .then(function (supported) {
        var formats = FORMATS.filter(function (format) {
          return supported.indexOf(format) >= 0;
        });
        if (formats.indexOf("qr_code") < 0) {
          return null; // the badges and labels are QR codes
        }
        var detector = new window.BarcodeDetector({ formats: formats });
        return function () {
          return detector.detect(video).then(function (codes) {
            return codes.length ? codes[0].rawValue : null;
          });
        };
      })
      .catch(function () {
        return null;
      });
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      if (window.jsQR) {
        resolve();
        return;
      }
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () {
        reject(new Error("could not load " + src));
      };
      document.head.appendChild(script);
    });
  }

  function fallbackDecoder() {
    return loadScript(box.getAttribute("data-fallback-src")).then(function () {
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", { willReadFrequently: true });
      return function () {
        var width = video.videoWidth;
        var height = video.videoHeight;
        if (!width || !height) {
          return Promise.resolve(null);
        }
        var scale = Math.min(1, MAX_WIDTH / width);
        canvas.width = Math.round(width * scale);
        canvas.height = Math.round(height * scale);
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        var image = context.getImageData(0, 0, canvas.width, canvas.height);
        var found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
        return Promise.resolve(found && found.data ? found.data : null);
      };
    });
  }

  function decoder() {
    if (decode) {
      return Promise.resolve(decode);
    }
    return nativeDecoder().then(function (native) {
      return native || fallbackDecoder();
    }).then(function (found) {
      decode = found;
      return found;
    });
  }

  function tick() {
    if (!stream) {
      return;
    }
    var attempt = video.readyState >= 2 ? decode() : Promise.resolve(null);
    attempt
      .then(function (code) {
        if (code) {
          submitScan(code.trim());
        }
      })
      .catch(function () {
        /* a frame that cannot be read: try the next one */
      })
      .then(function () {
        if (stream) {
          timer = window.setTimeout(tick, EVERY_MS);
        }
      });
  }

  function start() {
    button.disabled = true;
    say("Opening the camera…");
    Promise.all([
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }),
      decoder(),
    ])
      .then(function (results) {
        stream = results[0];
        video.srcObject = stream;
        video.classList.remove("d-none");
        button.textContent = "Stop camera";
        button.setAttribute("aria-pressed", "true");
        say("Hold the badge or the label in front of the camera.");
        return video.play();
      })
      .then(tick)
      .catch(function (error) {
        stop();
        say("No camera: " + (error && error.message ? error.message : error) + ". Use the scanner or type the number.");
      })
      .then(function () {
        button.disabled = false;
      });
  }

  function stop() {
    window.clearTimeout(timer);
    if (stream) {
      stream.getTracks().forEach(function (track) {
        track.stop();
      });
    }
    stream = null;
    video.srcObject = null;
    video.classList.add("d-none");
    button.textContent = "Camera";
    button.setAttribute("aria-pressed", "false");
  }

  button.addEventListener("click", function () {
    if (stream) {
      stop();
      say("Camera off.");
    } else {
      start();
    }
  });
  window.addEventListener("pagehide", stop);
})();
