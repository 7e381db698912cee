import 'reflect-metadata';
import { Type } from 'class-transformer';
import { IsOptional, ValidateNested } from 'class-validator';
import { MAX_REPLICAS, MAX_TASK_ID } from '@berth/core';
import {
  Check,
  IsConstraints,
  IsCpu,
  IsDuration,
  IsEnv,
  IsIntegerIn,
  IsLabels,
  IsBoolean,
  IsList,
  IsMapping,
  IsMemory,
  IsOneOf,
  IsPositiveDuration,
  IsRatio,
  IsResourceVersion,
  IsRequired,
  IsSpreadBy,
} from './decorators';
import * as rules from './rules';

/*
 * The manifest's structure as class-validator DTOs. Properties are typed as they are once
 * validation passed; before that they hold whatever the document had (no conversion happens).
 * Every property carries a decorator, so the whitelist knows it and anything else is an
 * unknown field.
 */

export const MAX_PIDS = 4_194_304;
export const MAX_VCPUS = 64;
export const MAX_HEALTH_RETRIES = 100;

export class ResourcesDto {
  @IsOptional() @IsCpu() cpu?: number | string;
  @IsOptional() @IsMemory() memory?: number | string;
  @IsOptional() @IsIntegerIn(1, MAX_PIDS) pids?: number;
}

export class PortDto {
  @IsRequired(rules.integerIn(1, 65535)) containerPort!: number;
  @IsOptional() @IsIntegerIn(1, 65535) hostPort?: number;
  @IsOptional() @IsOneOf(['tcp', 'udp']) protocol?: 'tcp' | 'udp';
}

export class TcpCheckDto {
  @IsRequired(rules.integerIn(1, 65535)) port!: number;
}

export class HttpCheckDto {
  @IsRequired(rules.integerIn(1, 65535)) port!: number;
  @IsOptional() @Check(rules.httpPath) path?: string;
}

/** Exactly one of `exec`, `tcp` and `http` (a cross-field rule: cross-checks.ts). */
export class HealthCheckDto {
  @IsOptional() @Check(rules.stringList('["wget", "-qO-", "http://127.0.0.1:8080/"]')) exec?: string[];
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => TcpCheckDto) tcp?: TcpCheckDto;
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => HttpCheckDto) http?: HttpCheckDto;
  @IsOptional() @IsPositiveDuration() interval?: string | number;
  @IsOptional() @IsPositiveDuration() timeout?: string | number;
  @IsOptional() @IsIntegerIn(1, MAX_HEALTH_RETRIES) retries?: number;
  @IsOptional() @IsDuration() startPeriod?: string | number;
}

export class VolumeDto {
  @IsRequired(rules.volumeName) name!: string;
  @IsRequired(rules.absolutePath) mountPath!: string;
}

export class VmDto {
  @IsOptional() @IsIntegerIn(1, MAX_VCPUS) vcpus?: number;
  @IsOptional() @Check(rules.vmKernel) kernel?: string;
  @IsOptional() @Check(rules.vmDisk) disk?: string;
  @IsOptional() @Check(rules.kernelCmdline) cmdline?: string;
}

export class CapabilitiesDto {
  @IsOptional() @Check(rules.capabilityList) add?: string[];
}

/** runtime container only (a cross-field rule: cross-checks.ts); every field hardens or relaxes the defaults in docs/security.md. */
export class SecurityContextDto {
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => CapabilitiesDto) capabilities?: CapabilitiesDto;
  @IsOptional() @IsBoolean() readOnlyRootFilesystem?: boolean;
  @IsOptional() @IsIntegerIn(0, MAX_TASK_ID) runAsUser?: number;
  @IsOptional() @IsIntegerIn(0, MAX_TASK_ID) runAsGroup?: number;
  @IsOptional() @Check(rules.privileged) privileged?: boolean;
  // With volumes, or with ids above 65535, refused (a cross-field rule: cross-checks.ts).
  @IsOptional() @IsBoolean() userNamespace?: boolean;
}

export class TemplateDto {
  @IsOptional() @IsOneOf(['container', 'vm']) runtime?: 'container' | 'vm';
  // Required unless vm.disk is given (a cross-field rule: cross-checks.ts).
  @IsOptional() @Check(rules.image) image?: string;
  // No imageDigest: the control plane pins it at apply (status.imageDigest); a manifest naming it is refused.
  @IsOptional() @IsOneOf(['ifNotPresent', 'always']) imagePull?: 'ifNotPresent' | 'always';
  @IsOptional() @Check(rules.stringList('["httpd", "-f"]')) command?: string[];
  @IsOptional() @IsEnv() env?: Record<string, string>;
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => ResourcesDto) resources?: ResourcesDto;
  @IsOptional() @IsList() @ValidateNested({ each: true }) @Type(() => PortDto) ports?: PortDto[];
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => HealthCheckDto) healthCheck?: HealthCheckDto;
  @IsOptional() @IsList() @ValidateNested({ each: true }) @Type(() => VolumeDto) volumes?: VolumeDto[];
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => VmDto) vm?: VmDto;
  @IsOptional() @IsDuration() stopGracePeriod?: string | number;
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => SecurityContextDto) securityContext?: SecurityContextDto;
}

export class RestartPolicyDto {
  @IsOptional() @IsOneOf(['any', 'on-failure', 'none']) condition?: 'any' | 'on-failure' | 'none';
  @IsOptional() @IsDuration() delay?: string | number;
  @IsOptional() @IsDuration() maxDelay?: string | number;
  @IsOptional() @IsIntegerIn(0) maxAttempts?: number;
}

export class UpdateDto {
  @IsOptional() @IsIntegerIn(0) parallelism?: number;
  @IsOptional() @IsDuration() delay?: string | number;
  @IsOptional() @IsDuration() monitor?: string | number;
  @IsOptional() @IsRatio() maxFailureRatio?: number;
  @IsOptional() @IsOneOf(['pause', 'continue', 'rollback']) failureAction?: 'pause' | 'continue' | 'rollback';
  @IsOptional() @IsOneOf(['stop-first', 'start-first']) order?: 'stop-first' | 'start-first';
}

/** The knobs of `update` for an automatic rollback; a failing rollback can only pause or continue. */
export class RollbackDto {
  @IsOptional() @IsIntegerIn(0) parallelism?: number;
  @IsOptional() @IsDuration() delay?: string | number;
  @IsOptional() @IsDuration() monitor?: string | number;
  @IsOptional() @IsRatio() maxFailureRatio?: number;
  @IsOptional() @Check(rules.rollbackFailureAction) failureAction?: 'pause' | 'continue';
  @IsOptional() @IsOneOf(['stop-first', 'start-first']) order?: 'stop-first' | 'start-first';
}

export class PlacementDto {
  @IsOptional() @IsConstraints() constraints?: string[];
  @IsOptional() @IsIntegerIn(0) maxPerNode?: number;
  @IsOptional() @IsOneOf(['spread', 'binpack']) strategy?: 'spread' | 'binpack';
  @IsOptional() @IsSpreadBy() spreadBy?: string;
}

export class SpecDto {
  @IsOptional() @IsOneOf(['replicated', 'global']) mode?: 'replicated' | 'global';
  @IsOptional() @IsIntegerIn(0, MAX_REPLICAS) replicas?: number;
  @IsRequired(rules.mapping) @ValidateNested() @Type(() => TemplateDto) template!: TemplateDto;
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => RestartPolicyDto) restartPolicy?: RestartPolicyDto;
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => UpdateDto) update?: UpdateDto;
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => RollbackDto) rollback?: RollbackDto;
  @IsOptional() @IsMapping() @ValidateNested() @Type(() => PlacementDto) placement?: PlacementDto;
  @IsOptional() @IsBoolean() fencing?: boolean;
}

export class MetadataDto {
  @IsRequired(rules.serviceName) name!: string;
  @IsOptional() @IsLabels() labels?: Record<string, string>;
  @IsOptional() @IsResourceVersion() resourceVersion?: string;
}

export class ServiceManifestDto {
  @IsRequired(rules.exactly('berth/v1')) apiVersion!: 'berth/v1';
  @IsRequired(rules.exactly('Service')) kind!: 'Service';
  @IsRequired(rules.mapping) @ValidateNested() @Type(() => MetadataDto) metadata!: MetadataDto;
  @IsRequired(rules.mapping) @ValidateNested() @Type(() => SpecDto) spec!: SpecDto;
}
