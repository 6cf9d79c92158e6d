"""A clip with its sound, one span interleaved by time: each frame block, then the audio tokens of its time slice.

Layout of ``Video(src, audio=True)``: one video segment whose metadata is a
:class:`~mmtok.core.meta.VideoAudioMeta` (N sampled frames)::

    <start_of_video>
    <start_of_frame> frame 0 patches <end_of_frame>  <start_of_audio> tokens starting in [0, D/N) <end_of_audio>
    <start_of_frame> frame 1 patches <end_of_frame>  <start_of_audio> tokens starting in [D/N, 2D/N) <end_of_audio>
    ...
    <end_of_video>

D is the clip's presentation span and frame i stands for the sampling interval [iD/N, (i+1)D/N) that holds its
target time; an audio token goes to the slice its start time falls in (tokens past the clip's end go to the last
slice, so none is dropped). Video and sound are aligned at their own starts. The segment's ``features`` are the
frames' patches and its ``sound`` the audio tokens; the audio runs' tokens have the audio modality in the
sequence. 3D positions: the parts (``<start_of_video>``, each frame block as in a video segment, each audio run as
in an audio segment, ``<end_of_video>``) follow one another as :func:`mmtok.pack` lays segments.

Provenance (:class:`ClipProvenance`): a patch as in a video span (box, block, frame, display interval), an audio
token its own [start, end) seconds of the sound; the metadata keeps each slice's interval (``slices``).
"""

from __future__ import annotations

import functools
from dataclasses import fields

import torch

from ..audio.tokenizer import AudioTokens, sound_meta, token_spans
from ..core.meta import VideoAudioMeta, VideoMeta
from ..core.positions import framed_run, sequential_positions, stacked_positions
from ..core.protocol import ProvenanceFromTable, register_meta_tokenizer
from ..core.segment import Segment
from ..core.vocab import Modality, Vocab, default_vocab
from ..errors import SequenceError
from ..image.plan import ImageConfig
from ..image.tokenizer import plan_blocks
from ..video.tokenizer import VideoConfig, VideoTokenizer, VideoTokens

__all__ = ["video_with_audio", "slice_audio", "sound_slices_length", "ClipProvenance"]


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


def video_with_audio(video: VideoTokens, audio: AudioTokens, vocab: Vocab, clip: Segment) -> Segment:
    """The clip with its sound as one segment (module docstring); ``clip`` is the clip's video segment (its
    metadata describes the frames)."""
    n, d = len(video.frames), video.duration
    bounds = slice_audio(audio, d, n).tolist()
    ids, pos = [torch.tensor([vocab.special("<start_of_video>")])], [sequential_positions(1)]
    for i in range(n):
        frame = plan_blocks(video.frames[i].plan, vocab, "<start_of_frame>", "<end_of_frame>",
                            vocab.placeholder(Modality.VIDEO))
        sound = framed_run(vocab.special("<start_of_audio>"), vocab.special("<end_of_audio>"),
                           vocab.placeholder(Modality.AUDIO), bounds[i + 1] - bounds[i])
        for part in (frame, sound):
            ids.append(part[0])
            pos.append(part[1])
    ids.append(torch.tensor([vocab.special("<end_of_video>")]))
    pos.append(sequential_positions(1))
    frames = {f.name: getattr(clip.meta, f.name) for f in fields(VideoMeta)}
    meta = VideoAudioMeta(**frames, sound=sound_meta(audio, clip.meta.source),
                          slices=[(i * d / n, (i + 1) * d / n) for i in range(n)],
                          slice_tokens=[b - a for a, b in zip(bounds, bounds[1:])])
    return Segment(Modality.VIDEO, torch.cat(ids), stacked_positions(pos), clip.features, meta, audio.tokens)


class ClipProvenance(ProvenanceFromTable):
    """Provenance of a clip with its sound: its frames' patches as :meth:`VideoTokenizer.provenance_table` gives
    them; each audio token its [start, end) seconds of the sound (the last one ends where the sound ends)."""

    def __init__(self, video: VideoTokenizer) -> None:
        self.video = video

    def provenance_table(self, segment: Segment, vocab: Vocab | None = None) -> dict[str, torch.Tensor]:
        m = segment.meta
        if not isinstance(m, VideoAudioMeta):
            raise SequenceError(f"expected a clip with its sound, got {type(m).__name__} metadata")
        table = self.video.provenance_table(segment, vocab)
        where = (segment.input_ids == (vocab or default_vocab()).placeholder(Modality.AUDIO)).nonzero().flatten()
        if len(where) != m.audio_tokens:
            raise SequenceError(f"the clip's metadata counts {m.audio_tokens} audio tokens, its ids {len(where)}")
        table["time"][where] = token_spans(len(where), m.sound.stack, m.sound.duration)
        return table


@functools.lru_cache(maxsize=16)
def _provenance_for(image: ImageConfig) -> ClipProvenance:
    return ClipProvenance(VideoTokenizer(VideoConfig(image=image)))


register_meta_tokenizer(VideoAudioMeta,
                        lambda seg, vocab: _provenance_for(ImageConfig.from_dict(seg.meta.image_config)))
