import { canonicalJson } from './canonical';
import type { Service, TaskTemplate } from './service';

export function sameTemplate(a: TaskTemplate, b: TaskTemplate): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * Whether a task runs what its service asks for now. Only the template counts: scaling or a
 * placement change bumps the service's generation but outdates no task, so neither triggers a
 * rolling update. A task stored without its template falls back to its generation.
 */
export function isTaskCurrent(task: { readonly specGeneration: number; readonly template?: TaskTemplate }, service: Service): boolean {
  return task.template ? sameTemplate(task.template, service.spec.template) : task.specGeneration >= service.meta.generation;
}
