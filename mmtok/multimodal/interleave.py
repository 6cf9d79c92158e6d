"""A clip with its sound, interleaved by time: each frame block, then the audio tokens of its time slice.

Layout of ``Video(src, audio=True)`` (2N + 1 segments for N sampled frames)::

    <start_of_video> <start_of_frame> frame 0 patches <end_of_frame>      (video segment, part "frame")
    <start_of_audio> tokens starting in [0, D/N) <end_of_audio>          (audio segment, part "audio")
    <start_of_frame> frame 1 patches <end_of_frame>                      ...
    <start_of_audio> tokens starting in [D/N, 2D/N) <end_of_audio>
    ...
    <end_of_video>                                                       (video segment, part "end")

D is the clip's presentation span and frame i stands for the sampling interval [iD/N, (i+1)D/N) that holds its
target time; an audio token goes to the slice its start time falls in (tokens past the clip's end go to the last
slice, so none is dropped). Video and sound are aligned at their own starts. Every segment's metadata says which
clip (``source``) and part it is, so ``MultimodalTokenizer.decode`` regroups them.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..audio.tokenizer import AudioTokens, sound_meta
from ..core.meta import ClipEndMeta, ClipFrameMeta
from ..core.positions import framed_run, sequential_positions
from ..core.segment import Segment
from ..core.vocab import Modality, Vocab
from ..image.tokenizer import plan_blocks
from ..video.tokenizer import VideoTokens

__all__ = ["video_with_audio", "slice_audio"]


def sound_slices_length(audio_tokens: int, num_frames: int) -> int:
    """Tokens the sound adds to a clip (:func:`video_with_audio`): every audio token, and a <start_of_audio> /
    <end_of_audio> pair after each of the ``num_frames`` frames (empty slices included)."""
    return audio_tokens + 2 * num_frames


def slice_audio(audio: AudioTokens, duration: float, n: int) -> torch.Tensor:
    """Token boundaries [n + 1]: the tokens of slice i are ``bounds[i]:bounds[i+1]``."""
    step = duration / n
    slot = torch.clamp(torch.floor(audio.spans[:, 0] / step), 0, n - 1).long()  # non-decreasing
    counts = torch.bincount(slot, minlength=n)
    return torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(counts, 0)])


def video_with_audio(video: VideoTokens, audio: AudioTokens, vocab: Vocab, clip: Segment) -> list[Segment]:
    """The interleaved segments (see the module docstring); ``clip`` is the clip's video segment (its metadata is
    what every part repeats)."""
    n = len(video.frames)
    plan = video.frames[0].plan
    bounds = slice_audio(audio, video.duration, n)
    vph = vocab.placeholder(Modality.VIDEO)
    m = clip.meta
    common = dict(source=m.source, grid=m.grid, original_size=m.original_size, image_config=m.image_config,
                  rotation=m.rotation, sampling=m.sampling, clip_frames=n, clip_duration=video.duration)
    out = []
    for i in range(n):
        ids, pos = plan_blocks(plan, vocab, "<start_of_frame>", "<end_of_frame>", vph)
        if i == 0:
            ids = torch.cat([torch.tensor([vocab.special("<start_of_video>")]), ids])
            pos = torch.cat([torch.zeros(3, 1, dtype=torch.int64), pos + 1], 1)
        frame = ClipFrameMeta(**common, first_frame=i, num_frames=1, timestamps=[float(video.timestamps[i])],
                              targets=[float(video.targets[i])], frame_indices=[int(video.frame_indices[i])],
                              repeats=[bool(video.repeats[i])])
        out.append(Segment(Modality.VIDEO, ids, pos, video.frames[i].patches, frame))
        a, b = int(bounds[i]), int(bounds[i + 1])
        ids, pos = framed_run(vocab.special("<start_of_audio>"), vocab.special("<end_of_audio>"),
                              vocab.placeholder(Modality.AUDIO), b - a)
        sound = sound_meta(replace(audio, padded_frames=audio.padded_frames if b == len(audio.tokens) else 0),
                           m.source, clip_frames=n, clip_duration=video.duration, first_token=a,
                           audio_tokens=len(audio.tokens), slice=(i * video.duration / n, (i + 1) * video.duration / n))
        out.append(Segment(Modality.AUDIO, ids, pos, audio.tokens[a:b], sound))
    end = ClipEndMeta(**common, audio_tokens=len(audio.tokens), audio_padded_frames=audio.padded_frames)
    out.append(Segment(Modality.VIDEO, torch.tensor([vocab.special("<end_of_video>")]), sequential_positions(1),
                       meta=end))
    return out
