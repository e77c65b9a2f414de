"""The traffic simulator: a province's day of scans, and the truth to check the pipeline by.

    world.py    venues of each category in the communes, their gates, people with homes,
                workplaces and phones (seeded: the same seed gives the same registry)
    routines.py each person's day: shifts, school, office hours, errands (the true stays)
    scanning.py how each stay is scanned: gates, posters, forgotten exits, double scans,
                skewed phones, stations that go offline, a few forged codes
    truth.py    the visits the README's pairing rules must make of the scans sent,
                worked out from the plan, independently of pipeline/pairing.py
    sending.py  the registry first, then the scans: straight to Kafka or via the gateway,
                as fast as possible or paced
"""
