"""A real profile with one function renamed (to a hostile name, say): every location that calls it follows."""

from __future__ import annotations

from dataclasses import replace

from leaksleuth.model.profile import Profile


def renamed(profile: Profile, old: str, new: str) -> Profile:
    functions = {f.id: replace(f, name=new, system_name=new) if f.name == old else f for f in profile.functions}
    locations = [
        replace(loc, lines=tuple(replace(line, function=functions[line.function.id]) for line in loc.lines))
        for loc in profile.locations
    ]
    return replace(profile, functions=list(functions.values()), locations=locations)
