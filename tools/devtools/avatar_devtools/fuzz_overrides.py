"""Valid values to mix into fuzzed avatar requests, so that calls get past the first check."""

from __future__ import annotations

from hypothesis import strategies as st

from avatar.animator.v1 import animator_pb2


def avatar_overrides(
    avatar_id: str, content_hash: str, photo: bytes, frame_jpeg: bytes
) -> dict[str, st.SearchStrategy]:
    """Field strategies that mix valid values into the avatar protos' random ones.

    Without them nearly every call would stop at the first check (an unknown avatar,
    a photo that is not an image); with them calls reach synthesis, face preparation,
    rendering and enhancement.

    Args:
        avatar_id: An avatar stored in the gateway under test.
        content_hash: The content hash of a photo the animator has prepared.
        photo: That photo's bytes.
        frame_jpeg: A small valid JPEG frame.
    """
    short_text = st.one_of(
        st.sampled_from(["Hi.", "Hello there. How are you?", "Dobar dan!", "1984?", "..."]),
        st.text(max_size=30),
    )
    rate = st.one_of(st.sampled_from([0, 8000, 16000, 22050, 48000]), st.integers(0, 2**32 - 1))
    # High quality's touch-up: a valid one (a mouth-sized region) now and then, else none
    # or a random one.
    mouth = animator_pb2.Region(x=180, y=300, width=150, height=110)
    touchup = st.one_of(
        st.just(animator_pb2.Touchup(regions=[mouth])),
        st.just(animator_pb2.Touchup(regions=[mouth], fidelity=0.5)),
        st.builds(animator_pb2.Touchup),
    )
    return {
        "avatar.gateway.v1.SpeakRequest.avatar_id": st.one_of(st.just(avatar_id), st.text()),
        "avatar.gateway.v1.SpeakRequest.text": short_text,
        "avatar.gateway.v1.SpeakRequest.voice": st.sampled_from(["", "en-us", "hr", "nope"]),
        "avatar.gateway.v1.GetAvatarRequest.avatar_id": st.one_of(st.just(avatar_id), st.text()),
        "avatar.gateway.v1.CreateAvatarRequest.image": st.one_of(
            st.binary(max_size=200), st.just(photo[: len(photo) // 2]), st.just(photo)
        ),
        "avatar.llm.v1.ChatRequest.message": short_text,
        "avatar.tts.v1.SynthesizeRequest.text": short_text,
        "avatar.tts.v1.SynthesizeRequest.voice": st.sampled_from(["", "en-us", "hr", "x"]),
        "avatar.tts.v1.SynthesizeRequest.sample_rate": rate,
        "avatar.animator.v1.PrepareAvatarRequest.image": st.one_of(
            st.binary(max_size=200), st.just(photo)
        ),
        "avatar.animator.v1.AnimateConfig.content_hash": st.one_of(
            st.just(content_hash), st.text(max_size=70)
        ),
        "avatar.animator.v1.AnimateConfig.image": st.one_of(
            st.just(b""), st.just(photo), st.binary(max_size=100)
        ),
        "avatar.animator.v1.AnimateConfig.sample_rate": rate,
        "avatar.animator.v1.AnimateConfig.touchup": touchup,
        "avatar.common.v1.AudioChunk.pcm": st.one_of(
            st.binary(max_size=6000).map(lambda pcm: pcm[: len(pcm) // 2 * 2]),
            st.binary(max_size=64),
        ),
        "avatar.common.v1.AudioChunk.sample_rate": rate,
        "avatar.common.v1.AudioChunk.sample_offset": st.one_of(
            st.integers(0, 8000), st.integers(0, 2**64 - 1)
        ),
        "avatar.common.v1.Frame.data": st.one_of(st.just(frame_jpeg), st.binary(max_size=300)),
        "avatar.common.v1.Frame.width": st.one_of(st.just(64), st.integers(0, 2**32 - 1)),
        "avatar.common.v1.Frame.height": st.one_of(st.just(64), st.integers(0, 2**32 - 1)),
    }
