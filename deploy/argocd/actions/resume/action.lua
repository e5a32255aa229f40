-- Let a paused rollout continue: spec.rollout.paused = false.
if obj.spec.rollout == nil then obj.spec.rollout = {} end
obj.spec.rollout.paused = false
return obj
