"""Music player tools: music, playlists, radio, podcasts, playback, volume, speakers and the sleep timer.

A fifth tool set, written to judge the tuning-data generator on tools it was
not developed on: its held-out set (``tests/data/music_heldout.jsonl``) and
development set (``data/music_dev.jsonl``) were written with the tools,
before the first tune and before any generated request for them was read
(docs/tuning.md, "A fifth tool set"). 20 tools for a speaker on a Pi, the
kind of app people build first: free strings (what to play, a playlist, a
station, a podcast), enums (repeat modes, equalizer presets, speakers),
numbers with ranges and units (volume 0 to 100 %, tracks 1 to 10, seconds
5 to 600, minutes 5 to 120), booleans (shuffle, mute) and tools without
arguments, several of them close to each other on purpose ("go back a song"
is not "go back ten seconds"). Hand the file to the command line::

    agent-sdk run --tools examples/music_player/music_tools.py "put on some miles davis"

The player is simulated: every tool changes :data:`player` (one
:class:`Player`, in memory; importing the file does nothing else) and
returns one sentence saying what it did. A value out of range raises
``ValueError``, which the agent shows the model as the tool's error.
"""

from dataclasses import dataclass, field
from typing import Literal

from agent_sdk import tool

__all__ = [
    "Player",
    "add_to_playlist",
    "fast_forward",
    "like_track",
    "mute",
    "next_track",
    "now_playing",
    "pause",
    "play_music",
    "play_on",
    "play_playlist",
    "play_podcast",
    "play_radio",
    "player",
    "previous_track",
    "resume",
    "rewind",
    "set_equalizer",
    "set_repeat",
    "set_shuffle",
    "set_sleep_timer",
    "set_volume",
]

RepeatMode = Literal["off", "one", "all"]
Preset = Literal["flat", "bass boost", "vocal", "treble boost"]
Speaker = Literal["kitchen", "living room", "bedroom", "everywhere"]


@dataclass
class Player:
    """The simulated player the tools act on.

    Attributes:
        source: What is playing, like "music: miles davis" or "radio: jazz fm"; "" when nothing.
        playing: Whether it plays (False when paused or stopped).
        track: The current track's number in the queue, from 1.
        position_seconds: How far into the current track.
        volume: The volume, 0 to 100 percent.
        muted: Whether the sound is muted.
        repeat: The repeat mode.
        shuffle: Whether the queue is shuffled.
        preset: The equalizer preset.
        speaker: Where the sound comes from.
        sleep_minutes: Minutes until the music stops, 0 when no timer.
        liked: Tracks liked, oldest first.
        playlists: Playlist name → tracks added to it this session.
    """

    source: str = "playlist: sunday morning"
    playing: bool = True
    track: int = 1
    position_seconds: int = 0
    volume: int = 40
    muted: bool = False
    repeat: str = "off"
    shuffle: bool = False
    preset: str = "flat"
    speaker: str = "living room"
    sleep_minutes: int = 0
    liked: list[str] = field(default_factory=list)
    playlists: dict[str, list[str]] = field(default_factory=dict)


player = Player()
"""The player every tool in this file acts on; it starts playing a playlist, as a speaker found in use would."""

_NOW = ("Blue in Green", "Miles Davis", "Kind of Blue")


def _in_range(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise ValueError(f"{what} is {low} to {high}, got {value}")
    return value


def _said(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise ValueError(f"say {what}")
    return text


def _start(source: str) -> None:
    player.source, player.playing, player.track, player.position_seconds = source, True, 1, 0


def _current() -> str:
    if not player.source:
        raise ValueError("nothing is playing")
    return f"{_NOW[0]} by {_NOW[1]}"


# ---------------------------------------------------------------- what to play


@tool
def play_music(query: str) -> str:
    """Play music: a song, an artist, an album or a genre.

    Args:
        query: What to play, as the user said it, like "kind of blue", "miles davis" or "jazz".
    """
    _start("music: " + _said(query, "what to play"))
    return f"Playing {query}."


@tool
def play_playlist(name: str) -> str:
    """Play one of the user's saved playlists.

    Args:
        name: The playlist's name, like "road trip" or "sunday morning".
    """
    _start("playlist: " + _said(name, "which playlist"))
    return f"Playing your {name} playlist."


@tool
def play_radio(station: str) -> str:
    """Tune in to an internet radio station.

    Args:
        station: The station, like "jazz fm" or "bbc radio 4".
    """
    _start("radio: " + _said(station, "which station"))
    return f"Tuning in to {station}."


@tool
def play_podcast(show: str) -> str:
    """Play the newest episode of a podcast.

    Args:
        show: The podcast's name, like "the daily" or "radiolab".
    """
    _start("podcast: " + _said(show, "which podcast"))
    return f"Playing the latest episode of {show}."


# ---------------------------------------------------------------- playback


@tool
def pause() -> str:
    """Pause what is playing."""
    player.playing = False
    return "Paused."


@tool
def resume() -> str:
    """Resume playing after a pause."""
    if not player.source:
        raise ValueError("nothing to resume")
    player.playing = True
    return "Playing again."


@tool
def next_track(count: int = 1) -> str:
    """Skip to the next track.

    Args:
        count: How many tracks to skip, from 1 to 10; 1 when not said.
    """
    player.track += _in_range(count, 1, 10, "the tracks to skip")
    player.position_seconds = 0
    return f"Skipped {count} track{'s' if count > 1 else ''}."


@tool
def previous_track() -> str:
    """Go back to the previous track."""
    player.track = max(1, player.track - 1)
    player.position_seconds = 0
    return "Back to the previous track."


@tool
def fast_forward(seconds: int) -> str:
    """Jump ahead in the current track or episode.

    Args:
        seconds: How far, from 5 to 600 seconds, like 30.
    """
    player.position_seconds += _in_range(seconds, 5, 600, "the jump")
    return f"Skipped ahead {seconds} seconds."


@tool
def rewind(seconds: int) -> str:
    """Jump back in the current track or episode.

    Args:
        seconds: How far, from 5 to 600 seconds, like 15.
    """
    player.position_seconds = max(0, player.position_seconds - _in_range(seconds, 5, 600, "the jump"))
    return f"Went back {seconds} seconds."


@tool
def set_repeat(mode: RepeatMode) -> str:
    """Repeat the current track, repeat everything queued, or stop repeating.

    Args:
        mode: "one" (the current track), "all" (the whole queue) or "off".
    """
    player.repeat = mode
    return "Repeat is off." if mode == "off" else f"Repeating {'this track' if mode == 'one' else 'everything'}."


@tool
def set_shuffle(on: bool) -> str:
    """Turn shuffle on or off.

    Args:
        on: True to play the queue in random order, False to play it in order.
    """
    player.shuffle = on
    return f"Shuffle is {'on' if on else 'off'}."


@tool
def now_playing() -> str:
    """Tell what is playing: the track, the artist and the album."""
    if not player.source:
        return "Nothing is playing."
    return f"This is {_NOW[0]} by {_NOW[1]}, from {_NOW[2]}."


# ---------------------------------------------------------------- sound and speakers


@tool
def set_volume(percent: int) -> str:
    """Set the speaker's volume.

    Args:
        percent: From 0 to 100 percent, like 30 for quiet listening.
    """
    player.volume = _in_range(percent, 0, 100, "the volume")
    return f"Volume {percent}%."


@tool
def mute(on: bool = True) -> str:
    """Mute the sound, or unmute it; playback goes on either way.

    Args:
        on: True to mute (the default), False to unmute.
    """
    player.muted = on
    return "Muted." if on else "Sound is back on."


@tool
def set_equalizer(preset: Preset) -> str:
    """Change how the music sounds with an equalizer preset.

    Args:
        preset: "flat" (as recorded), "bass boost", "vocal" (clearer voices) or "treble boost".
    """
    player.preset = preset
    return f"Equalizer: {preset}."


@tool
def play_on(speaker: Speaker) -> str:
    """Move what is playing to another speaker, or to every speaker at once.

    Args:
        speaker: "kitchen", "living room", "bedroom" or "everywhere".
    """
    player.speaker = speaker
    return "Playing on every speaker." if speaker == "everywhere" else f"Playing in the {speaker}."


@tool
def set_sleep_timer(minutes: int) -> str:
    """Stop the music after a while.

    Args:
        minutes: How long until it stops, from 5 to 120 minutes.
    """
    player.sleep_minutes = _in_range(minutes, 5, 120, "the sleep timer")
    return f"The music stops in {minutes} minutes."


# ---------------------------------------------------------------- the library


@tool
def like_track() -> str:
    """Add the current track to the user's liked songs."""
    track = _current()
    player.liked.append(track)
    return f"Added {track} to your liked songs."


@tool
def add_to_playlist(playlist: str) -> str:
    """Add the current track to one of the user's playlists.

    Args:
        playlist: The playlist's name, like "workout" or "road trip".
    """
    track = _current()
    player.playlists.setdefault(_said(playlist, "which playlist"), []).append(track)
    return f"Added {track} to {playlist}."
