// The search's web worker, run in a hidden iframe when the site is opened from file://
// (browsers refuse workers from file URLs). It stands in for the iframe-worker shim that
// mkdocs-material's offline plugin would otherwise load from a CDN, so the built site needs
// no network. The worker script sees `postMessage` and the "message" events it expects.
(function () {
  "use strict";
  if (location.protocol !== "file:" || typeof window.Worker === "undefined") return;

  class IframeWorker extends EventTarget {
    constructor(url) {
      super();
      this.onmessage = null;
      this.onerror = null;
      this._queue = [];
      this._ready = false;
      const frame = document.createElement("iframe");
      frame.style.display = "none";
      frame.srcdoc = "<!doctype html><html><head></head><body></body></html>";
      frame.addEventListener("load", () => {
        const w = frame.contentWindow;
        w.postMessage = (data) => this._deliver(data);  // the worker's replies
        w.importScripts = () => { throw new Error("importScripts is not available"); };
        const script = w.document.createElement("script");
        script.src = String(new URL(url, location.href));
        script.addEventListener("load", () => {
          this._window = w;
          this._ready = true;
          for (const data of this._queue.splice(0)) this.postMessage(data);
        });
        script.addEventListener("error", (err) => {
          if (this.onerror) this.onerror(err);
        });
        w.document.head.appendChild(script);
      });
      (document.body || document.documentElement).appendChild(frame);
      this._frame = frame;
    }

    _deliver(data) {
      const event = new MessageEvent("message", { data });
      if (this.onmessage) this.onmessage(event);
      this.dispatchEvent(event);
    }

    postMessage(data) {
      if (!this._ready) {
        this._queue.push(data);
        return;
      }
      const w = this._window;
      w.dispatchEvent(new w.MessageEvent("message", { data }));
    }

    terminate() {
      this._frame.remove();
    }
  }

  window.Worker = IframeWorker;
})();
