-- Hold the rollout at its current step: spec.rollout.paused = true.
if obj.spec.rollout == nil then obj.spec.rollout = {} end
obj.spec.rollout.paused = true
return obj
