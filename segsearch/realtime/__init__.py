"""Real-time membership (CONTRACT 6.1, and 6.2's propagation).

changes.py      the durable pending set of changed customers and the feed's sink
follower.py     re-evaluates them in batches and writes the difference
propagation.py  segments whose rule names another segment: who to re-evaluate
"""
