"""The demo history: 90 simulated days of the real contact cycle behind `make run`'s demo.

docs/demo.md. `runner.py` (the guard, the progress row, the chunked run), `day.py` (one
simulated day through the real services), `debtors.py` (how the simulated debtors react, with
the simulator's world), `tasks.py` (the django-q2 task), `demo.py` (queued by `seed_demo`).
"""
