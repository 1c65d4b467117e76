"""Contextual-bandit learner for the recommender (Django-free core).

This package turns logged decisions (context, chosen action, observed reward, the logging
policy's probability of that action) into a :class:`Policy` that assigns probabilities to
actions for new contexts. Services in ``recommender.services`` load logs from the database,
call :func:`fit_policy`, persist :meth:`Policy.to_bytes`, and later call
:meth:`Policy.probabilities` when planning contacts. Nothing here knows about Django.

Public surface:

- :func:`fit_policy` -- fit a policy from logs (the public contract used by production, the
  simulator and offline evaluation).
- :class:`Policy` -- ``probabilities(X, eligible=..., explore=...)``,
  ``expected_rewards(X)``, ``to_bytes()`` / ``Policy.from_bytes(...)``.
- :class:`LearnerConfig` -- optional knobs; the defaults are the tuned ones.
  `learner_config_from` builds one from a mapping (a setting), checking every value.
- :func:`policy_blend` -- one policy scoring actions by a weighted mean of two policies'
  scores (retraining blends each night's fit with the live model).
- :func:`snips_value` and :func:`dr_value` -- off-policy value estimates with 95% intervals,
  for model promotion and uplift reports.

Method (see ``docs/recommender-learning.md``): a regularised logistic reward model

``logit r(x, a) = b0 + f_a.c + b_a + x.v + x.W f_a + x.u_a``

where ``x`` is the standardised context, ``f_a`` the standardised action features, ``W`` the
context x action-feature interactions that share strength across actions (and transfer to
actions with few or no logs), and ``b_a``, ``u_a`` per-action corrections shrunk towards the
shared part (``u_a`` only for actions with enough rows). Rows are weighted by
``propensity ** -power`` (clipped, normalised within each action to that action's effective
sample size), so the fit targets the population of contexts rather than the contexts the
logging policy happened to favour. The Gaussian prior scales and the power (0, 0.5 or 1) are
chosen by the inverse-propensity-weighted log-loss on held-out rows (3-fold for small logs),
after which the shared-interaction prior is loosened while the held-out loss stays within 2.5
standard errors (the policy needs the differences between actions, which the log-loss optimum
over-shrinks), and on large logs walked again towards weaker priors on more rows. Two richer
families are then tried on the same held-out rows, each kept if its held-out loss is lower
than the simpler one's: each feature's interaction and per-action priors set by the evidence
(``relevance``), and that on the context plus step columns (``basis``), which makes each
action's score a step function of age, balance, scores or hour, with the knots where a score
test on the linear model's residuals finds a step missing.
``explore=False`` is the argmax of the estimated reward over eligible actions
(ties split evenly); ``explore=True`` is Thompson sampling from a diagonal Laplace posterior
(each action's noise capped by what its own rows say), computed as probabilities by Monte
Carlo with fixed draws (deterministic given ``random_state``, and a row's probabilities do not
depend on its batch), mixed with an epsilon floor over the eligible actions that counts the
uniform control traffic beside the policy (``uniform_share``).

Modules: ``config`` (`LearnerConfig`), ``model`` (the reward model and its fit), ``basis``
(the step columns), ``relevance`` (evidence-set priors), ``selection`` (the prior search and
the family choice), ``fit`` (`fit_policy`), ``policy`` (`Policy`), ``estimates``
(`snips_value`, `dr_value`, `OffPolicyEstimate`), ``blend`` (`policy_blend`).
"""

from recommender.learning.blend import policy_blend
from recommender.learning.config import LearnerConfig, learner_config_from
from recommender.learning.estimates import OffPolicyEstimate, dr_value, snips_value
from recommender.learning.fit import fit_policy
from recommender.learning.policy import FORMAT_VERSION, Policy

__all__ = [
    "FORMAT_VERSION",
    "LearnerConfig",
    "OffPolicyEstimate",
    "Policy",
    "dr_value",
    "fit_policy",
    "learner_config_from",
    "policy_blend",
    "snips_value",
]
