"""The relevance filter: watch-list matching, models and the escalation decision.

Plain domain logic (no Kafka): :class:`~pipeline.relevance.decision.Classifier` turns a
:class:`~pipeline.mention.Mention` into a :class:`~pipeline.relevance.decision.Decision`;
:class:`~pipeline.relevance.budget.EscalationBudget` keeps escalations near a target rate.
"""
