"""SLA domain logic: calendars, policies, the per-case clock, alert records, volume spikes.

Plain functions and dataclasses that know nothing of Kafka or Faust; used by the SLA agent
(``agents/sla.py``), the offline backtest (``mentionflow sla``) and the benchmark alike.
"""
