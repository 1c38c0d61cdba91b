"""The page at `/` in a real chromium: the same model files in onnxruntime-web and via the API must
agree (top-1, faces), SIMD and threads must be what they claim to be, and nothing may log an error."""

from __future__ import annotations

import base64
import mimetypes
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.browser.conftest import RUN_TIMEOUT_MS, PageSession
from tests.conftest import LiveServer
from tests.pictures import encoded, with_bad_crc
from tests.reference import box_iou

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Route


def test_page_loads_with_isolation_and_no_console_errors(session: PageSession) -> None:
    assert session.page.evaluate("crossOriginIsolated") is True
    assert session.page.evaluate("Object.keys(window.mva.state.manifest.models)") == [
        "mobilenet_v2",
        "blazeface_short",
        "blazeface_full",
    ]
    # nothing from another origin: no CDN at page load
    assert all(url.startswith(session.url) for url in session.requests), session.requests
    assert session.console_errors == []


def test_grace_hopper_is_a_military_uniform_in_the_browser_and_via_the_api(
    session: PageSession, images: Path
) -> None:
    session.pick(images / "grace_hopper.bmp")
    last = session.run(task="classify", precision="int8", backend="wasm")
    browser_top = last["browser"]["result"]["predictions"][0]
    server_top = last["server"]["payload"]["predictions"][0]
    assert browser_top["label"] == server_top["label"] == "military uniform"
    assert browser_top["class_id"] == server_top["class_id"]
    # the same model file was downloaded by the browser
    assert any(url.endswith("/models/mobilenet_v2/int8.onnx") for url in session.requests)
    assert session.screenshot("classify_grace_hopper").stat().st_size > 10_000
    assert session.console_errors == []


def test_fp32_scores_match_the_servers_because_the_input_pixels_do(
    session: PageSession, images: Path
) -> None:
    """Same resize (the server's, to the byte: web/src/resample.mjs) and a lossless picture: the same
    input tensor, so fp32 scores agree to rounding. (int8 scores differ by a few points:
    onnxruntime-web's quantized wasm kernels round differently from native onnxruntime's.)"""
    session.pick(images / "grace_hopper.bmp")
    assert_fp32_scores_match(session)


def assert_fp32_scores_match(session: PageSession) -> None:
    """Classify the picked picture at fp32 on both sides: the same top 5, scores within 1e-3."""
    last = session.run(task="classify", precision="fp32", backend="wasm")
    browser = last["browser"]["result"]["predictions"]
    server = last["server"]["payload"]["predictions"]
    assert [p["class_id"] for p in browser] == [p["class_id"] for p in server]
    for b, s in zip(browser, server, strict=True):
        assert abs(b["score"] - s["score"]) < 1e-3, (browser, server)
    assert session.console_errors == []


@pytest.mark.parametrize(("detector", "faces"), [("blazeface_short", 2), ("blazeface_full", 4)])
def test_face_jpg_gives_the_same_faces_in_the_browser_and_via_the_api(
    session: PageSession, images: Path, detector: str, faces: int
) -> None:
    """The server decodes face.jpg at a DCT scale, the browser whole: the full range's faintest face
    overlapped by 0.88 only while the server mapped faces back by libjpeg's rounded-up size (README)."""
    session.pick(images / "face.jpg")
    last = session.run(task="detect", detector=detector, backend="wasm")
    browser_faces = last["browser"]["result"]["faces"]
    server_faces = last["server"]["payload"]["faces"]
    assert len(browser_faces) == len(server_faces) == faces
    for face in server_faces:
        best = max(box_iou(face["box"], other["box"]) for other in browser_faces)
        assert best > 0.9, (face, browser_faces)
    assert [k["name"] for k in browser_faces[0]["keypoints"]] == [
        k["name"] for k in server_faces[0]["keypoints"]
    ]
    session.screenshot(f"detect_face_{detector}")
    assert session.console_errors == []


def test_a_webp_with_an_exif_orientation_gives_the_same_faces_in_the_same_frame(
    session: PageSession, images: Path, tmp_path: Path
) -> None:
    """Chromium shows a WebP as stored whatever its EXIF orientation says (the EXIF chunk comes after the
    image data); the server turned it, so its faces were drawn on the page in another frame, and the
    page's own inference saw other pixels. The server now takes it as stored too."""
    face = Image.open(images / "face.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to view"
    picture = tmp_path / "face_orientation6.webp"
    face.save(picture, format="WEBP", quality=95, exif=exif)
    session.pick(picture)
    shown = session.page.evaluate("[mva.state.picture.width, mva.state.picture.height]")
    assert shown == list(face.size)  # as stored: what Chromium does, measured
    last = session.run(task="detect", detector="blazeface_short", backend="wasm")
    server = last["server"]["payload"]
    assert [server["image"]["width"], server["image"]["height"]] == shown
    browser_faces = last["browser"]["result"]["faces"]
    assert len(browser_faces) == len(server["faces"]) == 2
    for found in server["faces"]:
        assert max(box_iou(found["box"], other["box"]) for other in browser_faces) > 0.9
    assert session.console_errors == []


def test_simd_off_and_on_load_different_wasm_and_two_threads_really_run(
    session: PageSession, images: Path
) -> None:
    session.pick(images / "cat.bmp")
    plain = session.run(
        task="classify", precision="int8", backend="wasm", **{"browser-simd": "0", "browser-threads": "1"}
    )
    threaded = session.run(**{"browser-simd": "1", "browser-threads": "2"})
    wasm = [url.rsplit("/", 1)[-1] for url in session.requests if url.endswith(".wasm")]
    assert wasm == ["ort-wasm.wasm", "ort-wasm-simd-threaded.wasm"]
    plain_engine, threaded_engine = plain["browser"]["engine"], threaded["browser"]["engine"]
    assert (plain_engine["simdEffective"], plain_engine["threadsEffective"]) == (False, 1)
    assert (threaded_engine["simdEffective"], threaded_engine["threadsEffective"]) == (True, 2)
    assert threaded_engine["crossOriginIsolated"] is True
    # the threaded runtime started its pthreads as workers; the single-threaded one started none
    assert len(session.workers) >= 1
    for last in (plain, threaded):
        assert last["browser"]["result"]["predictions"][0]["label"] == "Egyptian cat"
    assert session.console_errors == []


def test_a_half_transparent_png_gives_the_servers_scores(
    session: PageSession, images: Path, tmp_path: Path
) -> None:
    """The server composites alpha over black; a canvas's getImageData gives a half-transparent pixel's
    colour back at full strength, so the page composites over black too: the same input tensor."""
    rgba = np.array(Image.open(images / "grace_hopper.bmp").convert("RGBA"))
    rgba[:, :, 3] = 90
    picture = tmp_path / "grace_hopper_alpha90.png"
    Image.fromarray(rgba).save(picture)
    session.pick(picture)
    assert_fp32_scores_match(session)


def test_a_png_with_a_gamma_chunk_gives_the_servers_scores(
    session: PageSession, images: Path, tmp_path: Path
) -> None:
    """The server reads the stored values (no colour management, as the models' reference pipelines);
    a browser by default corrects a PNG's gAMA (or a JPEG's ICC profile) to sRGB: with gamma 1.0, a
    pixel of 64 became 137. The page asks for the stored values too: the same input tensor."""
    linear = PngInfo()
    linear.add(b"gAMA", struct.pack(">I", 100_000))  # gamma 1.0, in units of 1/100000
    picture = tmp_path / "grace_hopper_gamma1.png"
    Image.open(images / "grace_hopper.bmp").save(picture, pnginfo=linear)
    session.pick(picture)
    assert_fp32_scores_match(session)


def test_a_png_whose_transparency_chunk_has_a_wrong_crc_gives_the_servers_scores(
    session: PageSession, images: Path, tmp_path: Path
) -> None:
    """Chromium drops an ancillary chunk whose CRC is wrong (libpng's default) and shows the picture: with
    a tRNS naming the picture's most common colour dropped, opaque. The server drops it too, where
    Pillow refused the file (422)."""
    picture = Image.open(images / "grace_hopper.bmp").convert("RGB")
    count, colour = max(picture.getcolors(1 << 24) or [(0, (0, 0, 0))])
    assert count > 10
    damaged = tmp_path / "grace_hopper_damaged_trns.png"
    damaged.write_bytes(with_bad_crc(encoded(picture, "PNG", transparency=colour), b"tRNS"))
    session.pick(damaged)
    assert_fp32_scores_match(session)


def test_a_file_that_is_not_a_picture_is_refused_and_the_page_stays_usable(
    session: PageSession, images: Path, tmp_path: Path
) -> None:
    """Run must not quietly run on the previous picture, and nothing may go uncaught."""
    session.pick(images / "grace_hopper.bmp")
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    session.page.set_input_files("#file", str(text))
    session.page.wait_for_selector("body[data-state=error]")
    assert "notes.txt is not a picture" in session.page.text_content("#status")
    assert session.page.is_disabled("#run") and session.page.is_disabled("#bench")
    assert session.console_errors == []
    session.page.evaluate("window.mva.errors = []")
    session.pick(images / "cat.bmp")
    last = session.run(task="classify", precision="int8")
    assert last["server"]["payload"]["predictions"][0]["label"] == "Egyptian cat"


def test_an_error_stays_on_the_status_line_until_the_next_action(
    browser: BrowserContext, server: LiveServer, tmp_path: Path, images: Path
) -> None:
    """A file that is not a picture, picked while the manifest is still on its way: the manifest's
    arrival said "pick an image" over the error at once; now the error stays, with the news after it,
    until the person acts."""
    page = browser.new_page()
    held: list[Route] = []
    page.route("**/v1/manifest", lambda route: held.append(route))
    page.goto(server.url + "/")
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    page.set_input_files("#file", str(text))
    page.wait_for_selector("body[data-state=error]")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    held[0].continue_()
    page.wait_for_selector("#status:has-text('pick an image')", timeout=30_000)
    said = page.text_content("#status")
    assert "notes.txt is not a picture" in said and said.index("notes.txt") < said.index("pick an image"), (
        said
    )
    assert page.evaluate("document.body.dataset.state") == "error"
    page.set_input_files("#file", str(images / "cat.bmp"))  # the next action: only its news
    page.wait_for_selector("#run:not([disabled])")
    said = page.text_content("#status")
    assert "press Run" in said and "notes.txt" not in said, said
    page.close()


def test_a_run_keeps_the_picture_and_settings_it_started_with(session: PageSession, images: Path) -> None:
    """Run is locked while running, and a picture or setting changed meanwhile does not reach the half
    still to come: browser and server answer for the same picture, with the settings shown."""
    session.pick(images / "grace_hopper.bmp")
    session.page.select_option("#task", "classify")
    session.page.select_option("#precision", "fp32")  # a cold model: the run takes a while
    session.page.select_option("#engine", "onnxruntime")
    session.page.evaluate("window.running = window.mva.state.picture.bitmap")
    session.page.evaluate("document.body.dataset.state = 'busy'")
    session.page.click("#run")
    assert session.page.is_disabled("#run") and session.page.is_disabled("#bench")
    assert session.page.is_disabled("#file")
    # playwright sets a disabled file input all the same: the change arrives mid-run
    session.page.set_input_files("#file", str(images / "bird.bmp"))
    session.page.select_option("#engine", "litert")
    session.page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=RUN_TIMEOUT_MS)
    assert session.page.evaluate("window.mva.errors") == []
    last = session.page.evaluate("window.mva.last")
    server = last["server"]["payload"]
    assert (server["image"]["width"], server["image"]["height"]) == (512, 600)
    assert server["settings"]["engine"] == "onnxruntime"
    assert last["browser"]["result"]["predictions"][0]["label"] == "military uniform"
    assert server["predictions"][0]["label"] == "military uniform"
    assert not session.page.is_disabled("#run")
    # replaced mid-run, the run's picture was kept open until the run ended, then closed
    assert session.page.evaluate("[running.width, running.height]") == [0, 0]
    assert session.console_errors == []


# pictures dropped together on the element `target` as a person's drag and drop delivers them; `run`:
# Run pressed in the same turn of the page's event loop, so that the drop lands while the run is under
# way. Whether the page took the drop (a drop it does not take, the browser opens the file in the
# page's place).
DROP = """([pictures, target, run]) => {
    const files = new DataTransfer();
    for (const [name, type, base64] of pictures) {
        const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        files.items.add(new File([bytes], name, { type }));
    }
    if (run) document.getElementById('run').click();
    const drop = new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true });
    return !document.getElementById(target).dispatchEvent(drop);
}"""


def drop(session: PageSession, pictures: list[Path], target: str, run: bool = False) -> bool:
    files = [
        [picture.name, mimetypes.guess_type(picture.name)[0], base64.b64encode(picture.read_bytes()).decode()]
        for picture in pictures
    ]
    return bool(session.page.evaluate(DROP, [files, target, run]))


def test_a_picture_dropped_anywhere_on_the_page_is_taken(session: PageSession, images: Path) -> None:
    """Only the drop zone took a drop: one on the picture or the results, a few pixels off, was left to
    the browser, which opens the file in the page's place (the models loaded, the answers gone)."""
    assert drop(session, [images / "face.jpg"], "scene")
    session.page.wait_for_selector("#run:not([disabled])")
    assert session.page.evaluate("window.mva.state.blob.name") == "face.jpg"
    assert session.console_errors == []


def test_a_picture_dropped_during_a_run_is_refused_saying_so(session: PageSession, images: Path) -> None:
    """The run keeps its picture to the end: one dropped meanwhile was ignored without a word. The page
    now says it was not taken, as an error that stands until the next action, and the run goes on."""
    session.pick(images / "grace_hopper.bmp")
    session.page.select_option("#task", "classify")
    assert drop(session, [images / "face.jpg"], "drop", run=True)
    session.page.wait_for_selector("#run:not([disabled])", timeout=RUN_TIMEOUT_MS)
    said = session.page.text_content("#status")
    assert said.startswith("error: face.jpg was not taken: a run is under way"), said
    assert said.endswith("since: done"), said  # the run itself went on, and its end is news after the error
    assert session.page.evaluate("document.body.dataset.state") == "error"
    assert session.page.evaluate("window.mva.errors") == [said.removeprefix("error: ").split(" · ")[0]]
    assert session.page.evaluate("window.mva.state.blob.name") == "grace_hopper.bmp"
    last = session.page.evaluate("window.mva.last")
    assert last["server"]["payload"]["predictions"][0]["label"] == "military uniform"
    assert session.console_errors == []


def test_of_several_pictures_dropped_the_page_says_which_it_takes(session: PageSession, images: Path) -> None:
    """The page compares one picture: of three dropped at once it took the first without a word. It
    now says on the status line how many came and which one it uses, and uses that one."""
    assert drop(session, [images / "cat.bmp", images / "face.jpg", images / "bird.bmp"], "drop")
    session.page.wait_for_selector("#run:not([disabled])")
    said = session.page.text_content("#status")
    assert (
        said == "3 files dropped: using cat.bmp · 512\N{MULTIPLICATION SIGN}341 picture, 512 KiB: press Run"
    ), said
    assert session.page.evaluate("window.mva.state.blob.name") == "cat.bmp"
    last = session.run(task="classify", precision="int8")
    assert last["browser"]["result"]["predictions"][0]["label"] == "Egyptian cat"
    assert session.console_errors == []


def test_of_several_files_dropped_the_page_takes_the_first_picture(
    session: PageSession, images: Path, tmp_path: Path
) -> None:
    """A text file dropped before a picture was taken as the first file and refused as no picture,
    the picture beside it ignored: the page now takes the first picture and names it. With no picture
    among them, the first file's refusal still says it is none."""
    notes, todo = tmp_path / "notes.txt", tmp_path / "todo.txt"
    notes.write_text("not a picture\n")
    todo.write_text("nor this\n")
    assert drop(session, [notes, todo], "drop")
    session.page.wait_for_selector("body[data-state=error]")
    said = session.page.text_content("#status")
    assert said.startswith("error: 2 files dropped: using notes.txt: notes.txt is not a picture"), said

    session.page.evaluate("document.body.dataset.state = 'busy'")  # what the next drop leads to
    assert drop(session, [notes, images / "cat.bmp"], "drop")
    session.page.wait_for_selector("body[data-state=idle], body[data-state=error]")
    said = session.page.text_content("#status")
    picture = "512\N{MULTIPLICATION SIGN}341 picture, 512 KiB: press Run"
    assert said == f"2 files dropped: using cat.bmp · {picture}", said
    assert session.page.evaluate("window.mva.state.blob.name") == "cat.bmp"
    session.page.evaluate("window.mva.errors = []")  # the first drop's refusal, asserted above
    last = session.run(task="classify", precision="int8")
    assert last["browser"]["result"]["predictions"][0]["label"] == "Egyptian cat"


def test_several_pictures_dropped_during_a_run_are_refused_saying_so(
    session: PageSession, images: Path
) -> None:
    """As one picture dropped during a run is: refused in words, naming each file, the run going on."""
    session.pick(images / "grace_hopper.bmp")
    session.page.select_option("#task", "classify")
    assert drop(session, [images / "cat.bmp", images / "face.jpg"], "drop", run=True)
    session.page.wait_for_selector("#run:not([disabled])", timeout=RUN_TIMEOUT_MS)
    said = session.page.text_content("#status")
    expected = (
        "error: 2 files (cat.bmp, face.jpg) were not taken: a run is under way; drop one again when it ends"
    )
    assert said.startswith(expected), said
    assert session.page.evaluate("window.mva.state.blob.name") == "grace_hopper.bmp"
    assert session.console_errors == []


# text dragged from another page or a field: a drop with no file in it
DROP_TEXT = """(target) => {
    const text = new DataTransfer();
    text.setData('text/plain', 'a caption, not a picture');
    const drop = new DragEvent('drop', { dataTransfer: text, bubbles: true, cancelable: true });
    return !document.getElementById(target).dispatchEvent(drop);
}"""


def test_a_drop_that_holds_no_file_is_refused_saying_so(session: PageSession, images: Path) -> None:
    """Text dropped on the page was ignored without a word: the page now says that only picture files
    are taken, as it does of a picture dropped during a run, and keeps the picture it has."""
    session.pick(images / "grace_hopper.bmp")
    assert session.page.evaluate(DROP_TEXT, "scene")
    said = session.page.text_content("#status")
    assert said == "error: what was dropped (text/plain) was not taken: only picture files are", said
    assert session.page.evaluate("document.body.dataset.state") == "error"
    assert session.page.evaluate("window.mva.errors") == [said.removeprefix("error: ")]
    assert session.page.evaluate("window.mva.state.blob.name") == "grace_hopper.bmp"
    assert not session.page.is_disabled("#run")
    assert session.console_errors == []


def test_a_replaced_picture_gives_its_pixels_back_at_once(session: PageSession, images: Path) -> None:
    """A decoded picture holds its full-size pixels (a 12 MP photo: 48 MB) outside the JavaScript
    heap, where the garbage collector does not see them: the page closes the one it replaces."""
    session.pick(images / "cat_1080p.jpg")
    session.page.evaluate("window.replaced = window.mva.state.picture.bitmap")
    assert session.page.evaluate("[replaced.width, replaced.height]") == [1920, 1080]
    session.pick(images / "cat.bmp")
    assert session.page.evaluate("[replaced.width, replaced.height]") == [0, 0]  # closed
    last = session.run(task="classify", precision="int8")
    assert last["browser"]["result"]["predictions"][0]["label"] == "Egyptian cat"
    assert session.console_errors == []


HOLD_NEXT_DECODE = """() => {
    const real = window.createImageBitmap;
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    window.createImageBitmap = (...args) => {
        window.createImageBitmap = real;  // only the next call is held
        const decoded = gate.then(() => real(...args));
        window.heldDecode = { release, settled: decoded.catch(() => null) };
        return decoded;
    };
}"""
# the held decode finishes, then the page's code awaiting it has its turn before the timeout's
RELEASE_DECODE = """async () => {
    window.heldDecode.release();
    await window.heldDecode.settled;
    await new Promise((resolve) => setTimeout(resolve, 0));
}"""


def test_the_picture_picked_last_is_the_one_used(session: PageSession, images: Path) -> None:
    """A big picture decodes slowly (emulated: its decode is held until the test releases it): Run
    waits for it rather than run on the picture before, the answers for that one leave the panels, and
    a smaller picture picked meanwhile stays the one used when the slow decode finally ends."""
    session.pick(images / "grace_hopper.bmp")
    assert session.run(task="classify", precision="int8")["server"]["payload"]["predictions"]
    session.page.evaluate(HOLD_NEXT_DECODE)
    session.page.set_input_files("#file", str(images / "bird.bmp"))
    assert session.page.is_disabled("#run") and session.page.is_disabled("#bench")
    assert session.page.evaluate("window.mva.last") is None
    assert session.page.text_content("#server-result") == session.page.text_content("#server-timing") == ""
    session.pick(images / "cat.bmp")
    session.page.evaluate(RELEASE_DECODE)
    assert session.page.evaluate("window.mva.state.blob.name") == "cat.bmp"
    last = session.run()
    server = last["server"]["payload"]
    assert (server["image"]["width"], server["image"]["height"]) == (512, 341)
    assert server["predictions"][0]["label"] == last["browser"]["result"]["predictions"][0]["label"]
    assert server["predictions"][0]["label"] == "Egyptian cat"
    assert session.console_errors == []


def test_without_isolation_the_benchmark_says_two_threads_ran_as_one(
    browser: BrowserContext, server: LiveServer, images: Path
) -> None:
    """A proxy that drops the isolation headers (or a plain-http host other than localhost): no
    SharedArrayBuffer, so onnxruntime-web quietly runs one thread; the benchmark rows say so rather
    than claim 2 threads."""
    page = browser.new_page()

    def without_isolation(route: Route) -> None:
        response = route.fetch()
        dropped = ("cross-origin-opener-policy", "cross-origin-embedder-policy")
        headers = {k: v for k, v in response.headers.items() if k.lower() not in dropped}
        route.fulfill(response=response, headers=headers)

    page.route(f"{server.url}/", without_isolation)
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    assert page.evaluate("crossOriginIsolated") is False
    page.set_input_files("#file", str(images / "cat.bmp"))
    page.select_option("#task", "classify")
    page.fill("#iterations", "1")
    page.click("#bench")
    page.wait_for_selector("body[data-state=bench-done], body[data-state=error]", timeout=RUN_TIMEOUT_MS)
    assert page.evaluate("window.mva.errors") == []
    rows = page.evaluate("window.mva.bench.rows")
    labels = {
        (r["config"]["simd"], r["config"]["threads"]): r["label"] for r in rows if r["side"] == "browser"
    }
    assert (
        labels[(True, 2)]
        == "browser wasm simd=on threads=2 (ran 1 thread(s), SIMD: not cross-origin isolated)"
    )
    assert labels[(True, 1)] == "browser wasm simd=on threads=1"
    assert labels[(True, 2)] in page.text_content("#bench-table")
    page.close()


def test_a_second_model_does_not_count_the_runtime_again(session: PageSession, images: Path) -> None:
    """The wasm runtime comes once per configuration: the first use of a second model in it fetched
    no runtime, and its figures must not say it did."""
    session.pick(images / "cat.bmp")
    first = session.run(task="classify", precision="int8", backend="wasm", **{"browser-simd": "1"})
    files = first["browser"]["timing"]["firstUse"]["wasmFiles"]
    assert [f["file"] for f in files] == ["ort-wasm-simd.wasm"]
    session.pick(images / "face.jpg")
    second = session.run(task="detect", detector="blazeface_short")
    assert second["browser"]["timing"]["firstUse"]["wasmFiles"] == []
    assert "loaded before, for another model" in session.page.text_content("#browser-timing")
    assert session.console_errors == []


def test_the_engine_frames_start_is_its_own_line_on_first_use(session: PageSession, images: Path) -> None:
    """A configuration's first run starts its frame (ort.min.js loaded and run) before anything else:
    that time is in the run's total, so the page shows it on its own line instead of a gap between the
    total and the stages; a second model in the same frame waited for no frame."""
    session.pick(images / "cat.bmp")
    first = session.run(task="classify", precision="int8", backend="wasm", **{"browser-simd": "1"})
    frame_ms = first["browser"]["timing"]["firstUse"]["frameMs"]
    assert isinstance(frame_ms, float) and frame_ms > 0, first["browser"]["timing"]
    assert f"{frame_ms:.1f} ms" in session.page.text_content("#browser-timing")
    session.pick(images / "face.jpg")
    second = session.run(task="detect", detector="blazeface_short")
    assert second["browser"]["timing"]["firstUse"]["frameMs"] is None
    assert "engine frame" not in session.page.text_content("#browser-timing")
    assert session.console_errors == []


# the page's timing table of `side`: each row's name -> its figure, as shown
TIMING_ROWS = """(side) => Object.fromEntries(
    Array.from(document.querySelectorAll(`#${side}-timing tr`), (tr) => [
        tr.cells[0].textContent,
        tr.cells[1].textContent,
    ])
)"""


def test_the_browsers_decode_of_the_picture_is_shown_beside_its_inference(
    session: PageSession, images: Path
) -> None:
    """The server's panel shows its decode (Server-Timing), the browser's showed no decode at all: the
    file's decode into the picture's bitmap is now timed when picked and shown, outside the run's
    total (every run reuses the bitmap), beside the preprocessing and the inference."""
    session.pick(images / "cat_1080p.jpg")
    last = session.run(task="classify", precision="int8", backend="wasm")
    timing = last["browser"]["timing"]
    decode_ms = timing["decodeMs"]
    assert isinstance(decode_ms, int | float) and decode_ms > 0, timing
    shown = session.page.evaluate(TIMING_ROWS, "browser")
    # formatted as the page does (toFixed rounds a tie such as 16.25 up, Python's format to even)
    assert shown["decode (once, when picked; not in the total)"] == session.page.evaluate(
        "(ms) => `${ms.toFixed(1)} ms`", decode_ms
    ), shown
    assert list(shown)[-4:] == ["preprocessing", "inference", "postprocessing", "total"], shown
    assert "server decode" in session.page.evaluate(TIMING_ROWS, "server")
    assert session.console_errors == []


# every decode of a file into a bitmap the page asks for, counted in window.decodes (an init script:
# wrapped before the page's own scripts run)
COUNT_DECODES = """(() => {
    const real = window.createImageBitmap;
    window.decodes = 0;
    window.createImageBitmap = (...args) => {
        window.decodes += 1;
        return real(...args);
    };
})()"""


def test_a_picture_picked_before_the_manifest_came_is_decoded_once(
    browser: BrowserContext, server: LiveServer, images: Path
) -> None:
    """A picture picked while the manifest was on its way was decoded again once it came: its bitmap
    closed, the file decoded and timed anew, so the decode shown was the second one's. It is now
    decoded once, when picked, and that decode's time is the one shown."""
    page = browser.new_page()
    try:
        page.add_init_script(COUNT_DECODES)
        held: list[Route] = []
        page.route("**/v1/manifest", lambda route: held.append(route))  # held until the test lets it go
        page.goto(server.url + "/")
        page.set_input_files("#file", str(images / "cat.bmp"))
        # the page's policy forbids wait_for_function's eval: poll, at most a minute
        for _ in range(600):
            decode_ms = page.evaluate("window.mva.state.picture?.decodeMs")
            if held and decode_ms is not None:
                break
            page.wait_for_timeout(100)
        held[0].continue_()
        page.wait_for_selector("#status:has-text('press Run')", timeout=30_000)
        assert page.text_content("#status") == "512\N{MULTIPLICATION SIGN}341 picture, 512 KiB: press Run"
        assert page.evaluate("window.decodes") == 1
        last = PageSession(page, server.url).run(task="classify", precision="int8")
        assert last["browser"]["timing"]["decodeMs"] == decode_ms
        shown = page.evaluate(TIMING_ROWS, "browser")
        # formatted as the page does (toFixed rounds a tie such as 16.25 up, Python's format to even)
        assert shown["decode (once, when picked; not in the total)"] == page.evaluate(
            "(ms) => `${ms.toFixed(1)} ms`", decode_ms
        ), shown
    finally:
        page.close()


def test_webgl_runs_the_fp32_graph_with_its_batch_fixed_at_1(session: PageSession, images: Path) -> None:
    """onnxruntime-web's WebGL backend cannot run the symbolic batch of the files the server runs (it
    refused every input shape): it gets the same graph with the batch fixed at 1, and answers as the
    server does. Here WebGL is SwiftShader, software, but the same code path as on a GPU."""
    session.pick(images / "grace_hopper.bmp")
    last = session.run(task="classify", precision="fp32", backend="webgl")
    assert last["browser"]["engine"]["backend"] == "webgl"
    browser_top = last["browser"]["result"]["predictions"][0]
    assert browser_top["label"] == last["server"]["payload"]["predictions"][0]["label"] == "military uniform"
    assert any(url.endswith("/models/mobilenet_v2/fp32-batch1.onnx") for url in session.requests)

    session.pick(images / "face.jpg")
    last = session.run(task="detect", detector="blazeface_short", backend="webgl")
    browser_faces = last["browser"]["result"]["faces"]
    assert len(browser_faces) == len(last["server"]["payload"]["faces"]) == 2
    for face in last["server"]["payload"]["faces"]:
        assert max(box_iou(face["box"], other["box"]) for other in browser_faces) > 0.9
    assert session.console_errors == []


def test_webgl_with_int8_says_it_runs_fp32_only(session: PageSession, images: Path) -> None:
    session.pick(images / "grace_hopper.bmp")
    session.page.select_option("#task", "classify")
    session.page.select_option("#precision", "int8")
    session.page.select_option("#backend", "webgl")
    session.page.click("#run")
    session.page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=RUN_TIMEOUT_MS)
    assert "WebGL runs fp32 models only" in session.page.text_content("#browser-result")
    session.page.evaluate("window.mva.errors = []")
    last = session.run(precision="fp32")  # and the page stays usable
    assert last["browser"]["result"]["predictions"][0]["label"] == "military uniform"


def test_the_labels_come_with_the_model_not_inside_the_postprocessing(
    session: PageSession, images: Path
) -> None:
    """On first use the labels file is fetched beside the model (both before the inference), so the
    browser's 'postprocessing' figure is only the top-k, as the server's is."""
    events: list[str] = []
    session.page.on("request", lambda r: r.url.endswith("/labels.txt") and events.append("labels asked"))
    session.page.on("requestfinished", lambda r: r.url.endswith(".onnx") and events.append("model in"))
    session.pick(images / "grace_hopper.bmp")
    session.run(task="classify", precision="int8", backend="wasm")
    assert events == ["labels asked", "model in"]


def test_a_detector_runs_the_precision_its_manifest_entry_lists_first(
    browser: BrowserContext, server: LiveServer, images: Path
) -> None:
    """The page keeps no precision of its own for a detector: it runs the model's own, the first the
    manifest lists (the server's default too). A manifest that lists int8 first, as a BlazeFace
    quantized later would, sends the page to int8.onnx, which this server refuses (not built)."""
    page = browser.new_page()

    def int8_first(route: Route) -> None:
        response = route.fetch()
        manifest = response.json()
        manifest["models"]["blazeface_short"]["precisions"] = ["int8", "fp32"]
        route.fulfill(response=response, json=manifest)

    page.route(f"{server.url}/v1/manifest", int8_first)
    session = PageSession(page, server.url)
    page.on("request", lambda r: session.requests.append(r.url))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-state=ready]", timeout=30_000)
    session.pick(images / "face.jpg")
    page.select_option("#task", "detect")
    page.select_option("#detector", "blazeface_short")
    page.click("#run")
    page.wait_for_selector("body[data-state=done], body[data-state=error]", timeout=RUN_TIMEOUT_MS)
    models = [url.split("/models/", 1)[1] for url in session.requests if "/models/" in url]
    assert models == ["blazeface_short/int8.onnx"]
    assert "/models/blazeface_short/int8.onnx: HTTP 404" in (page.text_content("#browser-result") or "")
    page.close()
