// Live mode: webcam frames through BlazeFace in the browser and via the API, two independent loops,
// each with its own frames per second (a frame is dropped by a loop that is still busy). Each loop
// takes the newest frame when it is free, so the two sides' latest faces are of different frames:
// `frames` keeps the media time of each side's, for the page to say how far apart they are.
// The settings are read again for every frame: a change applies from the next one.
import { runInBrowser } from './browser.mjs';
import { callWithUpload } from './upload.mjs';

/** A webcam frame as the JPEG a camera app would save. */
async function frameJpeg(picture) {
  const canvas = new OffscreenCanvas(picture.width, picture.height);
  canvas.getContext('2d').drawImage(picture.bitmap, 0, 0);
  return canvas.convertToBlob({ type: 'image/jpeg', quality: 0.85 });
}

// Browsers offer getUserMedia to secure pages only: a plain-http page from a host other than localhost
// has none, which is the usual reason it is missing
function noCameraAccess() {
  return window.isSecureContext
    ? 'this browser offers no camera access (navigator.mediaDevices.getUserMedia)'
    : `camera access needs a secure page (https, or http on localhost); this one is ${location.origin}`;
}

export class LiveMode {
  /** settings() -> {job, browserConfig, apiQuery, upload}: what the page's controls say now. */
  constructor({ video, manifest, settings, onFrame }) {
    Object.assign(this, { video, manifest, settings, onFrame });
    this.running = false;
    this.stopped = false;
    this.waiting = new Map(); // requestVideoFrameCallback id -> the loop waiting for that frame
    this.latest = { browser: [], server: [] };
    this.fps = { browser: 0, server: 0 };
    this.frames = { browser: null, server: null }; // media time (s) of the frame each side's faces are of
  }

  /** Starts the camera and both loops; false when stop() came first (a second click while the camera
   * was being asked for), and then the camera is off and no loop runs. */
  async start() {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error(noCameraAccess());
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    this.stream = stream;
    if (this.stopped) {
      stream.getTracks().forEach((t) => t.stop());
      return false;
    }
    this.video.srcObject = stream;
    await this.video.play();
    if (this.stopped) return false; // stop() has stopped the stream already
    this.running = true;
    this.loop('browser', (picture) => this.browserFaces(picture));
    this.loop('server', (picture) => this.serverFaces(picture));
    return true;
  }

  // Nothing is shown after this: a frame under way is dropped, and a loop waiting for a frame (which a
  // stopped camera never sends, but the next stream on the same video element would) ends now.
  stop() {
    this.stopped = true;
    this.running = false;
    this.stream?.getTracks().forEach((t) => t.stop());
    for (const [id, wake] of this.waiting) {
      this.video.cancelVideoFrameCallback(id);
      wake();
    }
    this.waiting.clear();
  }

  /** The next frame's media time (s); undefined when stopped meanwhile. */
  nextFrame() {
    // each loop takes only frames it has not seen: FPS is capped by the camera, not by repeats
    return new Promise((resolve) => {
      const id = this.video.requestVideoFrameCallback((now, metadata) => {
        this.waiting.delete(id);
        resolve(metadata.mediaTime);
      });
      this.waiting.set(id, resolve);
    });
  }

  /** The next frame, or null when stopped meanwhile. */
  async grab() {
    const mediaTime = await this.nextFrame();
    if (!this.running) return null;
    const bitmap = await createImageBitmap(this.video);
    return { bitmap, width: bitmap.width, height: bitmap.height, mediaTime };
  }

  async browserFaces(picture) {
    const { job, browserConfig } = this.settings();
    const { result } = await runInBrowser(this.manifest, picture, job, browserConfig);
    return result.faces;
  }

  // the frame as a JPEG is "the file as picked"; the shrunk upload shrinks the frame itself, as for a
  // picture, so the full-size JPEG is encoded only when it is what goes out
  async serverFaces(picture) {
    const { job, apiQuery, upload } = this.settings();
    const blob = upload === 'shrunk' ? null : await frameJpeg(picture);
    const input = this.manifest.models[job.model].input;
    const { payload } = await callWithUpload(upload, picture, blob, input, job.task, apiQuery);
    return payload.faces;
  }

  // facesOf(picture) -> faces, for each frame the loop takes
  async loop(side, facesOf) {
    const times = [];
    while (this.running) {
      let picture = null;
      try {
        picture = await this.grab();
        if (!picture) break;
        const faces = await facesOf(picture);
        if (!this.running) break; // stopped meanwhile: not drawn over what the page shows now
        this.latest[side] = faces;
        this.frames[side] = picture.mediaTime;
        const now = performance.now();
        times.push(now);
        while (times.length && now - times[0] > 2000) times.shift();
        this.fps[side] = times.length > 1 ? ((times.length - 1) * 1000) / (now - times[0]) : 0;
        this.onFrame?.(side, picture, this.latest, this.fps, null, this.frames);
      } catch (error) {
        if (!this.running) break;
        this.onFrame?.(side, null, this.latest, this.fps, error, this.frames);
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        // drawn by onFrame already: a frame's pixels (1.2 MB, 30 times a second) live outside the
        // JavaScript heap, and left to the garbage collector they pile up
        picture?.bitmap.close();
      }
    }
  }
}
