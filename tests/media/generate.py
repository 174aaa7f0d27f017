"""Generate the media fixtures in tests/media/ and the demo in samples/.

Rerun from the repository root with:

    python tests/media/generate.py

(``python tests/media/generate.py no-speech`` makes only the no-speech files for the
hallucination checks: tones, noise and speech with long pauses; ``long-segment`` only the
long segment Whisper stopped short in.)

Speech comes from espeak-ng (voice en-us, 150 wpm); everything is encoded and muxed with
PyAV, so no ffmpeg CLI is needed. Output is deterministic for a given espeak-ng/FFmpeg build
(muxers run with ``+bitexact``, x264 single-threaded), and the files are committed, so only
rerun this when a fixture has to change. ``speech.json`` holds the reference transcript and the
measured speech span of each sentence, shared by every ``speech.*`` file.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "tests" / "media"
SAMPLES = ROOT / "samples"

ESPEAK_RATE = 22050  # espeak-ng's native output rate
VOICE, WPM = "en-us", 150
SILENCE_THRESHOLD = 0.01  # fraction of int16 full scale that counts as speech
# 16:9 with an even chroma height: at 160x90 (45 chroma rows) x264 output is not always stable.
WIDTH, HEIGHT, FPS = 128, 72, 5
VIDEO_CODEC = "libx264" if "libx264" in av.codecs_available else "mpeg4"
BITEXACT = {"fflags": "+bitexact"}

SPEECH = [
    "The quick brown fox jumps over the lazy dog.",
    "Kafka carries every event between the stages of the pipeline.",
    "Subtitles appear on the screen while people are speaking.",
]
DEMO = [
    "Welcome to kaption.",
    "This video is turned into subtitles by a pipeline of agents that talk through Kafka.",
    "One agent pulls the audio out of the video and cuts it into short chunks.",
    "Another agent sends every chunk to a speech recognition model.",
    "The last agent gathers the words and writes them as a subtitle file.",
    "Each line of text shows up on the screen while it is being spoken.",
]


@dataclass(frozen=True)
class AudioSpec:
    codec: str
    rate: int
    bitrate: int | None = None  # bits per second; None for lossless codecs


def synth(text: str, voice: str = VOICE, wpm: int = WPM) -> np.ndarray:
    """Speak ``text`` with espeak-ng and return mono int16 samples at ESPEAK_RATE."""
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = Path(tmp) / "say.wav"
        cmd = ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav_path), text]
        subprocess.run(cmd, check=True)
        with wave.open(str(wav_path), "rb") as wav:
            assert wav.getframerate() == ESPEAK_RATE and wav.getnchannels() == 1
            assert wav.getsampwidth() == 2
            return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").copy()


def trim(samples: np.ndarray) -> np.ndarray:
    """Drop the leading and trailing near-silence espeak-ng adds around speech."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE_THRESHOLD * 32767)
    return samples[loud[0] : loud[-1] + 1]


def compose(
    sentences: list[str], lead: float, gap: float, tail: float
) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Join trimmed sentences with digital silence; return samples and utterance spans."""
    parts: list[np.ndarray] = [np.zeros(round(lead * ESPEAK_RATE), np.int16)]
    utterances: list[dict[str, object]] = []
    pos = len(parts[0])
    for i, text in enumerate(sentences):
        speech = trim(synth(text))
        utterances.append(
            {
                "text": text,
                "start": round(pos / ESPEAK_RATE, 3),
                "end": round((pos + len(speech)) / ESPEAK_RATE, 3),
            }
        )
        pause = np.zeros(round((gap if i < len(sentences) - 1 else tail) * ESPEAK_RATE), np.int16)
        parts += [speech, pause]
        pos += len(speech) + len(pause)
    return np.concatenate(parts), utterances


def encode_audio(
    stream: av.AudioStream, samples: np.ndarray, spec: AudioSpec, start: float
) -> list[av.Packet[Any]]:
    """Resample int16 samples at ESPEAK_RATE to the stream's codec and encode them."""
    source = av.AudioFrame.from_ndarray(samples[np.newaxis, :], format="s16", layout="mono")
    source.sample_rate = ESPEAK_RATE
    ctx = stream.codec_context
    resampler = av.AudioResampler(
        format=ctx.format.name, layout="mono", rate=spec.rate, frame_size=ctx.frame_size or 1024
    )
    packets: list[av.Packet[Any]] = []
    pts = round(start * spec.rate)  # stream timestamps count samples from `start`
    for frame in [*resampler.resample(source), *resampler.resample(None)]:
        frame.pts, frame.time_base = pts, Fraction(1, spec.rate)
        pts += frame.samples
        packets += stream.encode(frame)
    return packets + stream.encode(None)


def encode_video(stream: av.VideoStream, seconds: float) -> list[av.Packet[Any]]:
    """Encode `seconds` of plain dark-grey frames."""
    luma = np.full((HEIGHT, WIDTH), 32, np.uint8)
    chroma = np.full((HEIGHT // 2, WIDTH), 128, np.uint8)  # U and V planes, half size each
    packets: list[av.Packet[Any]] = []
    for i in range(math.ceil(seconds * FPS)):
        frame = av.VideoFrame.from_ndarray(np.vstack([luma, chroma]), format="yuv420p")
        frame.pts, frame.time_base = i, Fraction(1, FPS)
        packets += stream.encode(frame)
    return packets + stream.encode(None)


def write(
    path: Path,
    samples: np.ndarray | None,
    audio: AudioSpec | None,
    *,
    video_seconds: float = 0.0,
    audio_start: float = 0.0,
    fmt: str | None = None,
) -> None:
    """Mux optional audio (from ESPEAK_RATE int16 samples) and optional dark video into `path`."""
    with av.open(str(path), "w", format=fmt, container_options=BITEXACT) as out:
        packets: list[av.Packet[Any]] = []
        if video_seconds:
            v = out.add_stream(VIDEO_CODEC, rate=FPS, options={"crf": "30", "preset": "medium"})
            assert isinstance(v, av.VideoStream)
            v.width, v.height, v.pix_fmt = WIDTH, HEIGHT, "yuv420p"
            v.codec_context.thread_count = 1  # deterministic bitstream
            packets += encode_video(v, video_seconds)
        if samples is not None and audio is not None:
            a = out.add_stream(audio.codec, rate=audio.rate, layout="mono")
            assert isinstance(a, av.AudioStream)
            if audio.bitrate:
                a.bit_rate = audio.bitrate
            packets += encode_audio(a, samples, audio, audio_start)
        # Mux in timestamp order so the streams come out interleaved.
        packets.sort(key=lambda p: float((p.dts or 0) * p.time_base))
        for packet in packets:
            out.mux(packet)


def main() -> None:
    MEDIA.mkdir(parents=True, exist_ok=True)
    SAMPLES.mkdir(parents=True, exist_ok=True)

    speech, utterances = compose(SPEECH, lead=1.5, gap=1.5, tail=1.5)
    duration = len(speech) / ESPEAK_RATE
    reference = {
        "text": " ".join(SPEECH),
        "utterances": utterances,
        "duration": round(duration, 3),
    }
    (MEDIA / "speech.json").write_text(json.dumps(reference, indent=2) + "\n")

    aac = AudioSpec("aac", 22050, 32_000)
    opus = AudioSpec("libopus", 48000, 24_000)
    write(MEDIA / "speech.mp4", speech, aac, video_seconds=duration)
    write(MEDIA / "speech.mkv", speech, opus, video_seconds=duration)
    write(MEDIA / "speech.webm", speech, opus)
    write(MEDIA / "speech.mov", speech, AudioSpec("aac", 16000, 24_000), video_seconds=duration)
    write(MEDIA / "speech.mp3", speech, AudioSpec("libmp3lame", 22050, 32_000))
    write(MEDIA / "speech.wav", speech, AudioSpec("pcm_s16le", 16000))
    write(MEDIA / "speech.flac", speech, AudioSpec("flac", 16000))
    # FLAC has no encoder priming, so the first audio packet lands exactly on 2.0 s.
    write(
        MEDIA / "offset.mkv",
        speech,
        AudioSpec("flac", 16000),
        video_seconds=duration + 2.0,
        audio_start=2.0,
    )

    silence = np.zeros(6 * ESPEAK_RATE, np.int16)
    write(MEDIA / "silence.mp4", silence, aac, video_seconds=6.0)
    write(MEDIA / "video_only.mp4", None, None, video_seconds=3.0)
    (MEDIA / "not_media.mp4").write_text("this is not a video\n" * 20)
    (MEDIA / "empty.mp4").write_bytes(b"")

    demo, _ = compose(DEMO, lead=1.0, gap=0.8, tail=1.0)
    write(SAMPLES / "demo.mp4", demo, aac, video_seconds=len(demo) / ESPEAK_RATE)
    (SAMPLES / "demo.txt").write_text(" ".join(DEMO) + "\n")


# --- Audio where nobody speaks (tests/unit/test_hallucination.py, bench/hallucination.py) ------
NO_SPEECH_AAC = AudioSpec("aac", 16000, 32_000)
PAUSED = [
    "Please open the window.",
    "We will meet again tomorrow morning.",
    "No, no, no, not that one.",
]


def tone(freqs: list[float], seconds: float, harmonics: int, vibrato: float = 0.0) -> np.ndarray:
    """A note or chord with decaying harmonics and a soft attack and release (float, +-1)."""
    t = np.arange(round(seconds * ESPEAK_RATE)) / ESPEAK_RATE
    out = np.zeros_like(t)
    for f in freqs:
        phase = 2 * np.pi * f * t + vibrato * np.sin(2 * np.pi * 5 * t)
        for h in range(1, harmonics + 1):
            out += np.sin(h * phase) / h**1.5
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    return out * ramp / np.max(np.abs(out))


def to_int16(signal: np.ndarray, level: float) -> np.ndarray:
    return np.round(signal * level * 32767).astype(np.int16)


def chords() -> np.ndarray:
    """24 s of organ-like chords (I-vi-IV-V in C, 2 s each, twice round)."""
    progression = [[261.6, 329.6, 392.0], [220.0, 261.6, 329.6], [174.6, 220.0, 261.6]]
    progression.append([196.0, 246.9, 293.7])
    notes = [tone(chord, 2.0, 6) for chord in progression * 3]
    return to_int16(np.concatenate(notes), 0.3)


def melody() -> np.ndarray:
    """24 s of a plucked-string melody with vibrato, quarter notes at 120 bpm, over rests."""
    scale = [392.0, 440.0, 493.9, 523.3, 587.3, 659.3, 587.3, 523.3]
    notes = []
    for i in range(48):
        note = tone([scale[(i * 3) % len(scale)]], 0.5, 10, vibrato=0.3)
        notes.append(note * np.exp(-np.arange(len(note)) / (0.25 * ESPEAK_RATE)))
    return to_int16(np.concatenate(notes), 0.3)


def noise(colour: str, seconds: float, level: float, seed: int) -> np.ndarray:
    """White or pink (1/f power) noise at ``level`` RMS of full scale."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(round(seconds * ESPEAK_RATE))
    if colour == "pink":
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(len(white), 1 / ESPEAK_RATE)
        spectrum[1:] /= np.sqrt(freqs[1:])
        spectrum[0] = 0
        white = np.fft.irfft(spectrum, len(white))
    signal = white / np.sqrt(np.mean(white**2)) * level
    return to_int16(np.clip(signal, -1, 1), 1.0)


def paused_speech() -> tuple[np.ndarray, list[dict[str, object]]]:
    """Three short phrases 9 s apart over quiet pink noise (a room, not digital silence)."""
    speech, utterances = compose(PAUSED, lead=2.0, gap=9.0, tail=6.0)
    room = noise("pink", len(speech) / ESPEAK_RATE, 0.003, seed=3)
    mixed = np.clip(speech.astype(np.int32) + room, -32768, 32767).astype(np.int16)
    return mixed, utterances


def no_speech_media() -> None:
    write(MEDIA / "chords.mp4", chords(), NO_SPEECH_AAC)
    write(MEDIA / "melody.mp4", melody(), NO_SPEECH_AAC)
    write(MEDIA / "white_noise.mp4", noise("white", 24.0, 0.05, seed=1), NO_SPEECH_AAC)
    write(MEDIA / "pink_noise.mp4", noise("pink", 24.0, 0.08, seed=2), NO_SPEECH_AAC)
    paused, utterances = paused_speech()
    write(MEDIA / "paused.mp4", paused, NO_SPEECH_AAC)
    reference = {"text": " ".join(PAUSED), "utterances": utterances}
    (MEDIA / "paused.json").write_text(json.dumps(reference, indent=2) + "\n")


# --- One long segment (tests/integration/test_transcribe_batching.py) --------------------------
# A sentence, a 1.7-s pause (shorter than speech detection's 2-s silence: one 22-s segment) and
# 20 s of another voice: tiny.en without timestamp tokens transcribed the first sentence only.
LONG_FIRST = ("en+f1", 140, "The last train leaves the station at midnight.")
LONG_REST = (
    "en+m6",
    200,
    "Our guide for the day was Harriet Lindqvist, who grew up in Stockholm. "
    "She showed us the old harbour, the royal palace and a small museum of ships. "
    "At lunch we met Giorgio Benedetti and his sister Elena from Turin. "
    "In the afternoon we walked across the bridges to the island of Djurgarden. "
    "Before dinner, Samuel Okafor told us about his work as an architect in Lagos.",
)
LONG_PAUSE_S = 1.7


def long_segment() -> None:
    first, rest = (trim(synth(text, voice, wpm)) for voice, wpm, text in (LONG_FIRST, LONG_REST))
    pause = np.zeros(round(LONG_PAUSE_S * ESPEAK_RATE), np.int16)
    audio = np.concatenate([first, pause, rest])
    write(MEDIA / "long_segment.flac", audio, AudioSpec("flac", 16000))
    reference = {"text": f"{LONG_FIRST[2]} {LONG_REST[2]}"}
    (MEDIA / "long_segment.json").write_text(json.dumps(reference, indent=2) + "\n")


# --- A long segment Whisper starts late (tests/unit/test_long_segments.py) ----------------------
# 21 s of a fast voice, a 1.5-s pause and a sentence of another: one segment, of which tiny.en
# (with or without timestamp tokens) gave the last sentence only.
LATE_FIRST = (
    "en+m4",
    205,
    "In football, Arsenal beat Liverpool 3 goals to 1 at the Emirates Stadium on Saturday. "
    "Bukayo Saka scored twice before half time, and Martin Odegaard added a third. "
    "Liverpool's only goal came from Mohamed Salah in the 78th minute. "
    "In tennis, Iga Swiatek won the Madrid Open for the 2nd time in 3 years. "
    "She beat Aryna Sabalenka in 2 hours and 17 minutes. "
    "The next round of matches starts on Wednesday at half past 7.",
)
LATE_REST = ("en+f1", 195, "Here is the traffic and weather for this morning.")
LATE_PAUSE_S = 1.5


def late_start() -> None:
    first, rest = (trim(synth(text, voice, wpm)) for voice, wpm, text in (LATE_FIRST, LATE_REST))
    pause = np.zeros(round(LATE_PAUSE_S * ESPEAK_RATE), np.int16)
    write(MEDIA / "late_start.flac", np.concatenate([first, pause, rest]), AudioSpec("flac", 16000))
    reference = {"text": f"{LATE_FIRST[2]} {LATE_REST[2]}"}
    (MEDIA / "late_start.json").write_text(json.dumps(reference, indent=2) + "\n")


# --- A prompt Whisper repeats (tests/unit/test_live_context.py) --------------------------------
# Three sentences 0.1 s apart: the last a live phrase, heard after the first two as its context.
# Given the prompt below, tiny.en repeated its middle sentence six times over all of it.
LOOP_SENTENCES = (
    "The harbour authority has approved a plan to build a new ferry terminal.",
    "Work on the pier will start next summer and take two years.",
    "Local fishermen fear that the noise will drive the fish away from the bay.",
)
LOOP_PROMPT = (
    "Please open the window. We will meet again tomorrow morning. No, no, no, not that one."
)


def resampled(path: Path, rate: int = 16000) -> np.ndarray:
    """A file's audio as mono int16 at ``rate``, resampled by PyAV (as decoding does)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    with av.open(str(path)) as container:
        frames = [out for frame in container.decode(audio=0) for out in resampler.resample(frame)]
    frames += resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames])


def prompt_loop() -> None:
    # Resampled to 16 kHz by PyAV as live ingest does (the loop is sensitive to the samples).
    said = []
    for text in LOOP_SENTENCES:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "say.wav"
            command = ["espeak-ng", "-v", "en-gb-scotland", "-s", "190", "-w", str(path), text]
            subprocess.run(command, check=True)
            pcm = resampled(path)
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 0.01 * 32768)
        said.append(pcm[loud[0] : loud[-1] + 1])
    pause = np.zeros(round(0.1 * 16000), np.int16)
    with wave.open(str(MEDIA / "prompt_loop.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.concatenate([said[0], pause, said[1], pause, said[2]]).tobytes())
    phrase_start = (len(said[0]) + len(said[1]) + 2 * len(pause)) / 16000
    reference = {"text": LOOP_SENTENCES[2], "phrase_start": phrase_start, "prompt": LOOP_PROMPT}
    (MEDIA / "prompt_loop.json").write_text(json.dumps(reference, indent=2) + "\n")


if __name__ == "__main__":
    if sys.argv[1:] == ["no-speech"]:
        no_speech_media()
    elif sys.argv[1:] == ["long-segment"]:
        long_segment()
    elif sys.argv[1:] == ["late-start"]:
        late_start()
    elif sys.argv[1:] == ["prompt-loop"]:
        prompt_loop()
    else:
        main()
        no_speech_media()
        long_segment()
        late_start()
        prompt_loop()
